"""The sparsity-accuracy frontier and the switcher's ablations (issue 12): the frontier runs,
the table (`tables/frontier.*`) and the reference's claimed accuracies; the figure is drawn by
`report.frontier_figure`.

Frontier runs (stage `frontier@`, `results/frontier/<profile>/...`) prune the dense run of
the same seed to fixed FC sparsities with magnitude, iterative magnitude and random pruning;
their `metrics.json` carries the `target_sparsity`. Every other point comes from the main
collection: dense (the frontier's origin, sparsity 0), the switcher and its ablations, and
the pruning runs matched to the switcher's own per-layer sparsity.

Claimed accuracies of the reference are drawn as lines and named with their provenance; they
are never pooled with measurements.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

from weightswitch.catalog import PRUNE_METHODS, PRUNE_PARENTS, SWITCHER_METHODS
from weightswitch.report.collect import PAIR, STATUS_DIVERGED, STATUS_OK, Collection, w_epochs
from weightswitch.report.references import (
    REFERENCE_IMPLEMENTATION,
    Reference,
    reference_floor,
)
from weightswitch.report.render import DASH, fmt_num, fmt_stat
from weightswitch.report.tables import runs_table
from weightswitch.report.writer import Section, Tex
from weightswitch.run_files import DIVERGED, HISTORY, METRICS

# from the method catalog: pruning methods draw the frontier (and are matched to the
# switcher's sparsity), switcher methods are the variants compared with it
FRONTIER_METHODS = PRUNE_METHODS
# the frontier figure's curves: pruning of the dense run (gate-ranked pruning of a gated run
# has its own figure, report/ranking.py)
DENSE_FRONTIER = tuple(m for m in PRUNE_METHODS if PRUNE_PARENTS[m] == "dense")
VARIANTS = SWITCHER_METHODS
MATCHED = PRUNE_METHODS
KINDS: tuple[str, ...] = ("dense", "switcher variant", "matched pruning", "frontier")
REQUIRED = (
    "profile",
    "dataset",
    "arch",
    "method",
    "seed",
    "test_accuracy",
    "fc_sparsity",
    "target_sparsity",
)
FLOOR_PROVENANCE = "reference code's hard-coded floor, not a measurement"


STAT_COLUMNS = (
    "test_acc_pct_mean",
    "test_acc_pct_std",
    "fc_sparsity_pct_mean",
    "fc_sparsity_pct_std",
    "n",
    "test_acc_pct_min",
    "test_acc_pct_max",
    "fc_sparsity_pct_min",
    "fc_sparsity_pct_max",
)
COLUMNS = (
    *PAIR,
    "kind",
    "method",
    "target_sparsity_pct",
    "epochs",
    *STAT_COLUMNS,
    "frontier_acc_pct",
    "delta_vs_frontier_pp",
    "delta_vs_frontier_pp_std",
)
HEADERS = {
    "dataset": "dataset",
    "arch": "arch",
    "kind": "kind",
    "method": "method",
    "epochs": "epochs (total)",
    "target": "target FC sparsity (%)",
    "sparsity": "FC sparsity (%)",
    "acc": "test acc. (%)",
    "frontier": "magnitude frontier at each run's sparsity (%)",
    "delta": "Δ vs frontier (pp)",
    "n": "n",
}


def claims(dataset: str, arch: str) -> list[Reference]:
    """The reference code's hard-coded accuracy floors for this pair's switcher variants
    (`references.REFERENCE_IMPLEMENTATION`: it reports max(best test epoch, floor)); they
    are the reference's claims, not measurements."""
    found = (reference_floor(dataset, arch, method) for method in VARIANTS)
    return [ref for ref in found if ref is not None]


def claimed_method(ref: Reference) -> str:
    """The method a reference floor is for (the first word of its setting)."""
    return ref.setting.split(" ")[0]


def _w_epochs(history: Path) -> float:
    """`collect.w_epochs` of a frontier run's history.csv (NaN when it has none)."""
    try:
        return float(w_epochs(pd.read_csv(history, usecols=["phase"])["phase"]))
    except (OSError, ValueError):
        return math.nan


def collect_frontier(root: Path, profile: str | None, warn: list[str]) -> pd.DataFrame:
    """One row per frontier run (every `metrics.json` under `root`, status ok; every
    `diverged.json`, status diverged with NaN numbers: counted, never dropped); unusable
    files are reported in `warn` and skipped, nothing is imputed."""
    rows = [*_diverged(root, profile, warn)]
    for path in sorted(root.rglob(METRICS)) if root.is_dir() else []:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            warn.append(f"frontier {path}: unreadable metrics.json ({exc}); skipped")
            continue
        absent = [k for k in REQUIRED if not isinstance(data, dict) or data.get(k) is None]
        if absent or data.get("matched_run"):
            why = f"lacks {', '.join(absent)}" if absent else "is matched, not a frontier run"
            warn.append(f"frontier {path}: {why}; skipped")
            continue
        if profile is not None and data["profile"] != profile:
            continue
        rows.append(
            {
                **{k: data[k] for k in (*PAIR, "method", "seed")},
                "target_sparsity_pct": 100.0 * float(data["target_sparsity"]),
                "fc_sparsity_pct": 100.0 * float(data["fc_sparsity"]),
                "test_acc_pct": 100.0 * float(data["test_accuracy"]),
                "epochs": data.get("epochs"),
                "allocation": data.get("allocation") or "uniform",
                "output_layer": data.get("output_layer"),
                "status": STATUS_OK,
                "threads": data.get("threads"),
                "cpu_capability": data.get("cpu_capability"),
                "w_epochs": _w_epochs(path.parent / HISTORY),
            }
        )
    cols = [
        *PAIR,
        "method",
        "seed",
        "target_sparsity_pct",
        "fc_sparsity_pct",
        "test_acc_pct",
        "epochs",
        "allocation",
        "output_layer",
        "status",
        "threads",
        "cpu_capability",
        "w_epochs",
    ]
    df = pd.DataFrame(rows, columns=cols)
    return df.sort_values([*PAIR, "method", "target_sparsity_pct", "seed"]).reset_index(drop=True)


ALLOCATION_TEXT = {
    "uniform": "uniform: every FC layer, the output layer ({out}) included, pruned to the target",
    "output-denser": "output layer denser: the output layer ({out}) pruned to 0.8 x the target, "
    "the other FC layers to one common sparsity that keeps the FC total at it",
    "global": "global: one magnitude threshold across all FC layers, the output layer ({out}) "
    "included",
}


def allocation_text(points: pd.DataFrame) -> str:
    """How the frontier runs allocated the target over the layers (the output layer's
    treatment stated), from their metrics.json."""
    if points is None or points.empty or "allocation" not in points:
        return ""
    parts = []
    for allocation, g in points.dropna(subset=["allocation"]).groupby("allocation", sort=True):
        out = ", ".join(sorted({str(o) for o in g["output_layer"].dropna()})) or "last"
        text = ALLOCATION_TEXT.get(str(allocation), str(allocation)).format(out=out)
        parts.append(f"{text} ({', '.join(sorted(set(g['method'])))})")
    return " Per-layer allocation: " + "; ".join(parts) + "." if parts else ""


def _diverged(root: Path, profile: str | None, warn: list[str]) -> list[dict]:
    """Rows for the frontier runs that diverged (their diverged.json's identity names them)."""
    rows = []
    for path in sorted(root.rglob(DIVERGED)) if root.is_dir() else []:
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
            config = record["identity"]["config"]
            target = float(config["prune"]["sparsity"])
            row = {
                "profile": config["profile"],
                "dataset": config["dataset"],
                "arch": config["arch"],
                "method": config["method"],
                "seed": int(config.get("seed", 0)),
            }
        except (OSError, ValueError, KeyError, TypeError) as exc:
            warn.append(f"frontier {path}: unreadable diverged.json ({exc!r}); skipped")
            continue
        if profile is None or row["profile"] == profile:
            rows.append(
                {
                    **row,
                    "target_sparsity_pct": 100.0 * target,
                    "epochs": None,
                    "fc_sparsity_pct": math.nan,
                    "test_acc_pct": math.nan,
                    "status": STATUS_DIVERGED,
                    "threads": record.get("threads"),
                    "cpu_capability": record.get("cpu_capability"),
                }
            )
    return rows


def _std(s: pd.Series) -> float:
    """Sample std over seeds; NaN for one seed (shown as '—')."""
    return s.std(ddof=1) if s.count() > 1 else math.nan


def _stats(df: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    df = df.assign(epochs=pd.to_numeric(df.get("epochs", math.nan), errors="coerce"))
    g = df.groupby(keys, dropna=False)
    return g.agg(
        test_acc_pct_mean=("test_acc_pct", "mean"),
        test_acc_pct_std=("test_acc_pct", _std),
        fc_sparsity_pct_mean=("fc_sparsity_pct", "mean"),
        fc_sparsity_pct_std=("fc_sparsity_pct", _std),
        n=("test_acc_pct", "count"),
        test_acc_pct_min=("test_acc_pct", "min"),
        test_acc_pct_max=("test_acc_pct", "max"),
        fc_sparsity_pct_min=("fc_sparsity_pct", "min"),
        fc_sparsity_pct_max=("fc_sparsity_pct", "max"),
        epochs=("epochs", "max"),
    ).reset_index()


def frontier_at(curve: pd.DataFrame, sparsity_pct: float) -> float:
    """Mean accuracy of a frontier curve (sorted points, dense at 0 included) linearly
    interpolated at `sparsity_pct`; NaN outside the measured range."""
    x, y = curve["fc_sparsity_pct_mean"].to_numpy(), curve["test_acc_pct_mean"].to_numpy()
    if len(x) == 0 or math.isnan(sparsity_pct) or not x.min() <= sparsity_pct <= x.max():
        return math.nan
    return float(np.interp(sparsity_pct, x, y))


def frontier_table(runs: pd.DataFrame, points: pd.DataFrame) -> pd.DataFrame:
    """Per profile/dataset/arch: dense, every switcher variant, the matched pruning runs and
    every frontier point (mean, sample std and n over seeds); switcher variants and matched
    runs also get the magnitude frontier's accuracy at their sparsity and their difference
    from it.

    The comparison is made per run, each at its own sparsity, then averaged: the frontier is
    not linear, so where seeds land far apart (one collapsed at 96 %, two near 1 %), the
    frontier at the *mean* sparsity describes no run, while the mean of per-run differences
    is the expected gap of one run, with its spread over seeds."""
    ok = runs[runs["status"] == STATUS_OK].copy()
    ok["fc_sparsity_pct"] = ok["fc_sparsity_pct"].where(ok["method"] != "dense", 0.0)
    parts = []
    for kind, methods in (
        ("dense", ("dense",)),
        ("switcher variant", VARIANTS),
        ("matched pruning", MATCHED),
    ):
        sel = ok[ok["method"].isin(methods)]
        if len(sel):
            stats = _stats(sel, [*PAIR, "method"]).assign(kind=kind)
            parts.append(stats.assign(target_sparsity_pct=math.nan))
    if len(points):
        parts.append(
            _stats(points, [*PAIR, "method", "target_sparsity_pct"]).assign(kind="frontier")
        )
    if not parts:
        return pd.DataFrame(columns=list(COLUMNS))
    df = pd.concat(parts, ignore_index=True)
    df = df.merge(_against_frontier(df, ok), how="left", on=[*PAIR, "kind", "method"])
    order = {m: i for i, m in enumerate(("dense", *VARIANTS, *FRONTIER_METHODS))}
    df = df.assign(
        _k=df["kind"].map(KINDS.index), _m=df["method"].map(lambda m: order.get(m, len(order)))
    )
    df = df.sort_values([*PAIR, "_k", "_m", "target_sparsity_pct"], na_position="first")
    return df.drop(columns=["_k", "_m"]).reset_index(drop=True)[list(COLUMNS)]


def _against_frontier(stats: pd.DataFrame, ok: pd.DataFrame) -> pd.DataFrame:
    """Per pair and compared method: the magnitude frontier (dense mean at 0, then the
    frontier points' means) interpolated at each run's own sparsity, and the run's accuracy
    minus it; mean over seeds of both, and the sample std of the difference. A run outside
    the frontier's range makes its method's comparison NaN: no partial means."""
    keys = [*PAIR, "kind", "method"]
    cols = [*keys, "frontier_acc_pct", "delta_vs_frontier_pp", "delta_vs_frontier_pp_std"]
    kind_of = {
        **dict.fromkeys(VARIANTS, "switcher variant"),
        **dict.fromkeys(MATCHED, "matched pruning"),
    }
    rows = []
    for pair, g in stats.groupby(list(PAIR)):
        magnitude = (g["kind"] == "frontier") & (g["method"] == "magnitude")
        curve = g[(g["kind"] == "dense") | magnitude]
        if not (curve["kind"] == "frontier").any():
            continue
        curve = curve.sort_values("fc_sparsity_pct_mean")
        mine = ok[
            (ok[list(PAIR)] == pd.Series(pair, index=list(PAIR))).all(axis=1)
            & ok["method"].isin(kind_of)
        ]
        for method, runs in mine.groupby("method"):
            at = pd.Series(
                [frontier_at(curve, s) for s in runs["fc_sparsity_pct"]],
                index=runs.index,
                dtype=float,
            )
            delta = runs["test_acc_pct"] - at
            rows.append(
                (
                    *pair,
                    kind_of[method],
                    method,
                    at.mean(skipna=False),
                    delta.mean(skipna=False),
                    _std(delta) if delta.notna().all() else math.nan,
                )
            )
    return pd.DataFrame(rows, columns=cols)


def display(df: pd.DataFrame) -> pd.DataFrame:
    """Strings for Markdown / LaTeX."""
    rows = [
        {
            "profile": r.profile,
            "dataset": r.dataset,
            "arch": r.arch,
            "kind": r.kind,
            "method": r.method,
            "epochs": DASH if pd.isna(r.epochs) else f"{float(r.epochs):g}",
            "target": fmt_num(r.target_sparsity_pct),
            "sparsity": fmt_stat(r.fc_sparsity_pct_mean, r.fc_sparsity_pct_std, int(r.n)),
            "acc": fmt_stat(r.test_acc_pct_mean, r.test_acc_pct_std, int(r.n)),
            "frontier": fmt_num(r.frontier_acc_pct),
            "delta": fmt_stat(
                r.delta_vs_frontier_pp, r.delta_vs_frontier_pp_std, int(r.n), signed=True
            ),
            "n": str(int(r.n)),
        }
        for r in df.itertuples(index=False)
    ]
    return pd.DataFrame(rows, columns=["profile", *HEADERS])


def claims_markdown() -> str:
    lines = [
        "| dataset | arch | method | claimed test acc. (%) | what it is | source |",
        "|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r.dataset} | {r.arch} | {claimed_method(r)} | {r.test_accuracy_pct:.2f} | "
        f"{FLOOR_PROVENANCE} | {r.source} |"
        for r in REFERENCE_IMPLEMENTATION
    ]
    return "\n".join(lines) + "\n"


def report_points(col: Collection, frontier_root: Path | None) -> pd.DataFrame | None:
    """The frontier runs under `frontier_root` of the report's profiles and dataset/arch pairs
    (diverged ones included, status 'diverged'); None without a frontier root."""
    if frontier_root is not None and not Path(frontier_root).is_dir():
        col.warnings.append(f"frontier directory {frontier_root} does not exist; no frontier")
    if not frontier_root:
        return None
    points = collect_frontier(Path(frontier_root), None, col.warnings)
    profiles = set(col.ok["profile"].unique())
    pairs = set(zip(col.runs["dataset"], col.runs["arch"], strict=True))
    mine = [(d, a) in pairs for d, a in zip(points["dataset"], points["arch"], strict=True)]
    return points[points["profile"].isin(profiles) & pd.Series(mine, index=points.index)]


def finished(points: pd.DataFrame | None) -> pd.DataFrame | None:
    """The frontier runs that finished (diverged ones have no point to show)."""
    return None if points is None else points[points["status"] == STATUS_OK]


def report_table(col: Collection, points: pd.DataFrame | None) -> pd.DataFrame | None:
    """The report's frontier table (`frontier_table` of its runs and finished `points`), for
    the pairs with a switcher variant or a frontier point; None where there is none."""
    ok = finished(points)
    table = frontier_table(runs_table(col), ok if ok is not None else pd.DataFrame())
    interesting = table[table["kind"].isin(("switcher variant", "frontier"))]
    if interesting.empty:
        return None
    return table[table.set_index(list(PAIR)).index.isin(interesting.set_index(list(PAIR)).index)]


def frontier_section(
    col: Collection, points: pd.DataFrame | None, frontier_root: Path | None
) -> Section | None:
    """tables/frontier.{csv,md,tex} (`points`: `report_points`); None without a row to show."""
    table = report_table(col, points)
    if table is None:
        return None
    cap = (
        "Switcher variants, matched pruning and the pruning frontier per dataset/arch: test "
        "accuracy and measured FC sparsity (%, mean ± sample std over seeds), and for the "
        "switcher variants and the runs matched to the switcher's per-layer sparsity, the "
        "magnitude frontier's accuracy at each run's own FC sparsity (linear interpolation "
        "between its points, dense at 0; '—' outside its range) and the run's difference "
        "from it in percentage points, both as mean (± sample std) over seeds: where seeds "
        "land at very different sparsities, the frontier at their mean sparsity would "
        "describe no run. Frontier runs: "
        + (f"{frontier_root}." if frontier_root else "none given.")
        + " A pair without frontier runs has rows here but no frontier figure. The "
        "reference's claimed accuracies below are NOT measurements."
        + allocation_text(finished(points))
    )
    return Section(
        "Frontier and ablations",
        cap,
        "frontier",
        data=table,
        heading="Frontier and ablations",
        shown=display(table),
        headers=HEADERS,
        profile_level="##",
        caption_at="before",
        tail="\n## The reference's claimed accuracies\n\n" + claims_markdown(),
        tex=Tex("tab:frontier", group=("profile", "dataset", "arch")),
    )
