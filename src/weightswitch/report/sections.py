"""The tables of a report, in the order its README lists them: each built as a `Section`
(`report.writer`) from the collection, the frontier points and the records.

`table_sections` is the one list; `build` writes each section with `writer.write_section`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from weightswitch.report import primary
from weightswitch.report.analysis import ANALYSIS_FILE, load_analysis
from weightswitch.report.collect import Collection
from weightswitch.report.comparisons import comparison_sections
from weightswitch.report.frontier import frontier_section
from weightswitch.report.index import source_text
from weightswitch.report.references import reference_table
from weightswitch.report.tables import (
    FLOOR_NOTE,
    SUMMARY_HEADERS,
    layer_display,
    layer_table,
    missing_table,
    reference_display,
    runs_table,
    summary_display,
)
from weightswitch.report.writer import Section, Tex, markdown_text, profile_tables


def clean(value: float) -> float | None:
    """A number for JSON: rounded, None where there is none (nothing is imputed)."""
    return None if pd.isna(value) else round(float(value), 4)


def metrics_json(summary: pd.DataFrame) -> str:
    """The report's metrics.json: dataset -> arch -> method -> numbers (null where there is no
    value). Keys start with the profile only when several are reported."""
    tree: dict = {}
    nested = summary["profile"].nunique() > 1
    for r in summary.itertuples(index=False):
        top = tree.setdefault(r.profile, {}) if nested else tree
        node = top.setdefault(r.dataset, {}).setdefault(r.arch, {})
        node[r.method] = {
            "test_acc_pct": clean(r.test_acc_pct_mean),
            "test_acc_pct_std": clean(r.test_acc_pct_std),
            "fc_sparsity_pct": clean(r.fc_sparsity_pct_mean),
            "compression_ratio": clean(r.compression_ratio_mean),
            "delta_vs_dense_pp": clean(r.delta_vs_dense_pp),
            "n": int(r.n),
            "n_expected": int(r.n_expected),
        }
    return json.dumps(tree, indent=2, allow_nan=False) + "\n"


def _scope(col: Collection) -> str:
    """'Profile(s) quick; seeds 0, 1, 2': what every caption of the main tables covers."""
    seeds = ", ".join(map(str, sorted(col.ok["seed"].unique())))
    return f"Profile(s) {', '.join(sorted(col.ok['profile'].unique()))}; seeds {seeds}"


def _summary_shown(col: Collection, summary: pd.DataFrame) -> pd.DataFrame:
    """The summary's display strings (n against the expected runs where there are some)."""
    return summary_display(summary, col.expected is not None)


def inline_summary(col: Collection, summary: pd.DataFrame) -> str:
    """The summary as the README shows it: one table per profile, then the floor's note."""
    shown = _summary_shown(col, summary)
    return profile_tables(shown, SUMMARY_HEADERS, "####") + f"\n{FLOOR_NOTE}\n"


def summary_section(col: Collection, summary: pd.DataFrame) -> Section:
    n_note = "completed runs / expected runs" if col.expected is not None else "completed runs"
    cap = (
        f"Per dataset/arch/method: mean ± sample std over seeds of test accuracy (%), FC "
        f"sparsity (% exactly-zero effective FC weights) and whole-model compression ratio "
        f"(all parameters / non-zero effective parameters). Δ vs dense = mean test accuracy "
        f"minus the dense mean of the same pair, in percentage points. Magnitude and random "
        f"pruning are pruned to the sparsity of the run named in 'matched to'. n = {n_note}; "
        f"'missing' = no completed run (n = 0); 'diverged' = every run of it diverged (a "
        f"result: see missing.md); '—' = undefined (std of a single run, or a "
        f"metric the method does not have). {_scope(col)}; "
        f"from {source_text(col)}. {FLOOR_NOTE}"
    )
    return Section(
        "Summary: accuracy, sparsity, compression",
        cap,
        "summary",
        data=summary,
        heading="Summary",
        shown=_summary_shown(col, summary),
        headers=SUMMARY_HEADERS,
        profile_level="###",
        tex=Tex(
            "tab:summary",
            group=("dataset", "arch"),
            align="lll" + "r" * 5 + "lrr",  # epochs, acc, delta, sparsity, compression
            per_profile=True,
        ),
    )


def metrics_section(summary: pd.DataFrame) -> Section:
    return Section(
        "Headline metrics (dvc metrics)",
        "The summary's means as nested JSON (profile -> dataset -> arch -> method) for "
        "`dvc metrics show/diff`; null where a run is missing.",
        more=(("metrics.json", metrics_json(summary)),),
    )


def layer_section(col: Collection) -> Section:
    layers = layer_table(col)
    cap = (
        f"Sparsity (%) of each switched layer per method: mean ± sample std over seeds, n runs. "
        f"{_scope(col)}; layer_sparsity of metrics.json from {source_text(col)}."
    )
    return Section(
        "Per-layer sparsity",
        cap,
        "layer_sparsity",
        data=layers,
        heading="Per-layer sparsity",
        shown=layer_display(layers).assign(profile=layers["profile"]),
        profile_level="###",
    )


def runs_section(col: Collection) -> Section:
    return Section(
        "Every run and every epoch",
        "runs.csv: one row per run (status ok/missing/diverged with the reason; accuracies and "
        "sparsities in %). history.csv: one row per run-epoch as in each run's history.csv "
        "(accuracies as fractions), the data of the training-curve figures.",
        "runs",
        data=runs_table(col),
        more=(("tables/history.csv", col.history),),
    )


def missing_section(col: Collection) -> Section:
    missing = missing_table(col)
    return Section(
        "Missing and diverged runs",
        f"{len(col.missing)} run(s) expected or started but without usable metrics.json, "
        f"{len(col.diverged)} diverged (training hit NaN/inf: a result of the run's "
        "inputs, counted in the summary's n); their numbers are not shown anywhere (no "
        "value is imputed).",
        "missing",
        data=missing,
        float_format=None,
        heading="Missing and diverged runs",
        shown=missing,
        caption_at="none",
        empty_text="None: every run found has its metrics.\n",
    )


def references_section() -> Section:
    refs = reference_table()
    cap = (
        "Published reference numbers with their source (NOT measured by this suite; other "
        "code, budgets and selection rules). Han et al. 2015 report top-1 error; accuracy = "
        "100 − error. Rows of kind 'reference implementation' are constants of the first "
        "author's public training code (floors of its reported accuracy), not measurements."
    )
    return Section(
        "Published references (separate from our measurements)",
        cap,
        "references",
        data=refs,
        float_format=None,
        heading="Published references",
        shown=reference_display(refs),
        tex=Tex("tab:references", group=("kind",), drop=("note",)),
    )


def primary_section(col: Collection, points: pd.DataFrame | None, records: Path) -> Section | None:
    """tables/primary.{csv,md}: the pre-registered family kept in the records (None for a
    report without one)."""
    path = records / ANALYSIS_FILE.name
    if not path.is_file():
        return None
    analysis = load_analysis(path)
    table = primary.primary_table(col, points, analysis)
    return Section(
        "Primary comparisons (pre-registered)",
        primary.caption(analysis),
        "primary",
        data=table,
        heading="Primary comparisons",
        shown=primary.display(table),
        headers=primary.HEADERS,
    )


@dataclass(frozen=True)
class ReportTables:
    """What a report's tables give its README: the sections to write, the exploratory
    conclusions and the primary family (Markdown; empty where the report has none)."""

    sections: list[Section]
    conclusions: str
    primary: str


def table_sections(
    col: Collection,
    summary: pd.DataFrame,
    points: pd.DataFrame | None,
    frontier_root: Path | None,
    records: Path,
) -> ReportTables:
    """Every table of the report in the README's order (`summary`: `tables.summary_table`)."""
    comparisons, conclusions = comparison_sections(col, points)
    first = primary_section(col, points, records)
    built = [
        first,
        summary_section(col, summary),
        metrics_section(summary),
        layer_section(col),
        runs_section(col),
        missing_section(col),
        references_section(),
        frontier_section(col, points, frontier_root),
        *comparisons,
    ]
    primary_md = markdown_text(first, titled=False) if first is not None else ""
    return ReportTables([s for s in built if s is not None], conclusions, primary_md)
