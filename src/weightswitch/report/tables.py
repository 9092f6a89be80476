"""Tidy tables from a Collection, and their Markdown / CSV / LaTeX renderings.

Numbers are computed here once (mean, sample std, n over seeds); the renderers only format
them, and the figures read the same frames. Percent columns carry a `_pct` suffix.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from weightswitch.catalog import CATALOG, STUDY_METHODS, method_order
from weightswitch.report.collect import KEYS, PAIR, Collection, parse_run_name
from weightswitch.report.references import reference_floor
from weightswitch.report.stats import claim, paired_interval, wilson_interval

GROUP = (*PAIR, "method")
# (source column in runs, output stem, scale): fractions become percent.
STATS = (
    ("test_accuracy", "test_acc_pct", 100.0),
    ("val_accuracy", "val_acc_pct", 100.0),
    ("exported_test_accuracy", "exported_acc_pct", 100.0),
    ("fc_sparsity", "fc_sparsity_pct", 100.0),
    ("target_sparsity", "target_sparsity_pct", 100.0),
    ("compression_ratio", "compression_ratio", 1.0),
    ("snn_params", "snn_params", 1.0),
    ("fc_macs_removed", "fc_macs_removed", 1.0),
    ("epoch_seconds", "epoch_seconds", 1.0),
    ("wall_seconds", "wall_seconds", 1.0),
)
MISSING = "missing"
DIVERGED_STATUS = "diverged"  # a run status (run_files.DIVERGED is a file name)
DASH = "—"
# the report's collapse rule: (test accuracies in %, dataset) -> which runs collapsed
Collapsed = Callable[[Sequence[float], str], np.ndarray]


def _matched_method(value: object) -> str | None:
    if not isinstance(value, str) or not value:
        return None
    parsed = parse_run_name(value.rstrip("/").split("/")[-1])
    return parsed["method"] if parsed else value


def summary_table(col: Collection) -> pd.DataFrame:
    """One row per profile/dataset/arch/method: mean, std (ddof=1) and n over seeds."""
    runs = col.runs
    groups = set(map(tuple, runs[list(GROUP)].itertuples(index=False, name=None)))
    if col.expected is None:  # every method on every pair (docs/design.md, "Baselines")
        pairs = {g[:3] for g in groups}
        groups |= {(*p, m) for p in pairs for m in STUDY_METHODS}
    expected_n: dict[tuple, int] = {}
    for rid in col.expected or []:
        key = (rid.profile, rid.dataset, rid.arch, rid.method)
        expected_n[key] = expected_n.get(key, 0) + 1
    rows = []
    for key in groups:
        sel = runs[(runs[list(GROUP)] == pd.Series(key, index=list(GROUP))).all(axis=1)]
        ok = sel[sel["status"] == "ok"]
        row: dict[str, object] = dict(zip(GROUP, key, strict=True))
        row["n"] = len(ok)
        # expected runs plus any found beyond them (extra seeds of one method count too)
        row["n_expected"] = max(expected_n.get(key, 0), len(sel))
        row["n_missing"] = int((sel["status"] == MISSING).sum()) + max(
            0, row["n_expected"] - len(sel)
        )
        row["n_diverged"] = int((sel["status"] == DIVERGED_STATUS).sum())
        row["seeds"] = ",".join(str(s) for s in sorted(ok["seed"]))
        # total training epochs (a pruning run counts its parent's plus its fine-tuning)
        row["epochs"] = pd.to_numeric(ok["epochs"], errors="coerce").max() if len(ok) else math.nan
        for src, stem, scale in STATS:
            values = ok[src].dropna() * scale
            row[f"{stem}_mean"] = values.mean() if len(values) else math.nan
            row[f"{stem}_std"] = values.std(ddof=1) if len(values) > 1 else math.nan
        matched = sorted({m for m in map(_matched_method, ok["matched_run"]) if m})
        row["matched_to"] = ",".join(matched)
        if len(ok):
            complete = row["n_missing"] == 0 and row["n_diverged"] == 0
            row["status"] = "ok" if complete else "partial"
        else:  # nothing to show: say why, when every run of the group diverged
            row["status"] = (
                DIVERGED_STATUS if row["n_diverged"] and not row["n_missing"] else MISSING
            )
        rows.append(row)
    df = pd.DataFrame(rows)
    dense = df[df["method"] == "dense"].set_index(list(PAIR))["test_acc_pct_mean"]
    base = df.set_index(list(PAIR)).index.map(lambda k: dense.get(k, math.nan))
    df["delta_vs_dense_pp"] = df["test_acc_pct_mean"].to_numpy() - base.to_numpy(dtype=float)
    df.loc[df["method"] == "dense", "delta_vs_dense_pp"] = math.nan
    return _sort(df)


def _sort(df: pd.DataFrame) -> pd.DataFrame:
    order = {m: i for i, m in enumerate(method_order(df["method"].unique()))}
    df = df.assign(_m=df["method"].map(order))
    return df.sort_values([*PAIR, "_m"]).drop(columns="_m").reset_index(drop=True)


def layer_table(col: Collection) -> pd.DataFrame:
    """Per switched layer sparsity (percent): mean, std and n over seeds."""
    cols = [*GROUP, "layer", "order", "sparsity_pct_mean", "sparsity_pct_std", "n"]
    if col.layers.empty:
        return pd.DataFrame(columns=cols)
    g = col.layers.assign(pct=col.layers["sparsity"] * 100).groupby([*GROUP, "layer"])
    df = g.agg(
        order=("order", "min"),
        sparsity_pct_mean=("pct", "mean"),
        sparsity_pct_std=("pct", lambda s: s.std(ddof=1) if s.count() > 1 else math.nan),
        n=("pct", "count"),
    ).reset_index()
    df = _sort(df)
    return df.sort_values([*PAIR, "order"], kind="stable").reset_index(drop=True)[cols]


def runs_table(col: Collection) -> pd.DataFrame:
    """Every run (ok, missing, diverged) with its raw numbers, accuracies/sparsities in %."""
    df = col.runs.copy()
    for src, stem, scale in STATS:
        df[stem] = df[src] * scale
    df["path"] = [_relative(p, col) if isinstance(p, str) else None for p in df["path"]]
    keep = [
        *KEYS,
        "run",
        "status",
        "reason",
        *(s for _, s, _ in STATS),
        "epochs",
        "w_epochs",
        "train_size",
        "test_size",
        "device",
        "threads",
        "cpu_capability",
        "git_commit",
        "matched_run",
        "has_gates",
        "path",
    ]
    return df[keep]


def _relative(path: str, col: Collection) -> str:
    try:
        return str(Path(path).relative_to(col.root))
    except ValueError:
        return path


def missing_table(col: Collection) -> pd.DataFrame:
    """Runs that were expected (or whose directory exists) but have no usable metrics: missing
    ones, and diverged ones (a result of their inputs, with the divergence as the reason)."""
    runs = col.runs[col.runs["status"].isin([MISSING, DIVERGED_STATUS])]
    return runs[[*KEYS, "status", "reason"]].reset_index(drop=True)


# ---------------------------------------------------------------- formatting


def fmt_stat(
    mean: float, std: float, n: int, digits: int = 2, empty: str = MISSING, signed: bool = False
) -> str:
    """'mean ± std' ('+mean ± std' when `signed`, for differences); '—' for the std of a
    single run; `empty` ('missing', or 'diverged' when every run of the group diverged) when
    there is no value."""
    if n == 0 or mean is None or (isinstance(mean, float) and math.isnan(mean)):
        return empty if n == 0 else DASH
    spread = DASH if std is None or math.isnan(std) else f"{std:.{digits}f}"
    return f"{mean:{'+' if signed else ''}.{digits}f} ± {spread}"


def _fmt_num(value: float, digits: int = 2, signed: bool = False) -> str:
    if value is None or math.isnan(value):
        return DASH
    return f"{value:+.{digits}f}" if signed else f"{value:.{digits}f}"


SUMMARY_HEADERS = {
    "dataset": "dataset",
    "arch": "arch",
    "method": "method",
    "epochs": "epochs (total)",
    "acc": "test acc. (%)",
    "delta": "Δ vs dense (pp)",
    "sparsity": "FC sparsity (%)",
    "compression": "compression (×)",
    "matched": "matched to",
    "n": "n",
    "floor": "reference code floor (%) †",
}
# The caption of every summary that shows the `floor` column: what it is, and is not.
FLOOR_NOTE = (
    "† Not ours and not a measurement: the constant that the first author's public training "
    "code (arXiv:2103.15590 / arXiv:2110.05954) uses as a FLOOR of its reported test accuracy "
    "(it reports max(best epoch picked on the test set, floor)); shown for the paper's MNIST "
    "switcher settings only, '—' elsewhere."
)


def summary_display(summary: pd.DataFrame, expected: bool) -> pd.DataFrame:
    """Strings for the human-readable summary (Markdown, LaTeX)."""
    rows = []
    for r in summary.itertuples(index=False):
        n, diverged = int(r.n), int(r.n_diverged)
        empty = DIVERGED_STATUS if r.status == DIVERGED_STATUS else MISSING
        count = f"{n}/{int(r.n_expected)}" if expected else str(n)
        rows.append(
            {
                "profile": r.profile,
                "dataset": r.dataset,
                "arch": r.arch,
                "method": r.method,
                "epochs": DASH if math.isnan(r.epochs) else f"{r.epochs:g}",
                "acc": fmt_stat(r.test_acc_pct_mean, r.test_acc_pct_std, n, empty=empty),
                "delta": _fmt_num(r.delta_vs_dense_pp, signed=True),
                "sparsity": fmt_stat(r.fc_sparsity_pct_mean, r.fc_sparsity_pct_std, n, empty=empty),
                "compression": fmt_stat(
                    r.compression_ratio_mean, r.compression_ratio_std, n, empty=empty
                ),
                "matched": r.matched_to or DASH,
                "n": count + (f" ({diverged} diverged)" if diverged else ""),
                "floor": _floor(r.dataset, r.arch, r.method),
            }
        )
    return pd.DataFrame(rows, columns=["profile", *SUMMARY_HEADERS])


def _floor(dataset: str, arch: str, method: str) -> str:
    ref = reference_floor(dataset, arch, method)
    return DASH if ref is None or ref.test_accuracy_pct is None else f"{ref.test_accuracy_pct:.2f}"


def layer_display(layers: pd.DataFrame) -> pd.DataFrame:
    out = layers[[*GROUP, "layer"]].copy()
    out["sparsity (%)"] = [
        fmt_stat(m, s, int(n))
        for m, s, n in zip(
            layers["sparsity_pct_mean"], layers["sparsity_pct_std"], layers["n"], strict=True
        )
    ]
    out["n"] = layers["n"].astype(int).astype(str)
    return out


def reference_display(refs: pd.DataFrame) -> pd.DataFrame:
    out = refs[["kind", "dataset", "arch", "setting"]].copy()
    out["test acc. (%)"] = [_fmt_num(v) for v in refs["test_accuracy_pct"]]
    out["compression (×)"] = [DASH if math.isnan(v) else f"{v:g}" for v in refs["compression"]]
    out["source"] = refs["source"]
    out["note"] = refs["note"]
    return out


def markdown(df: pd.DataFrame, headers: dict[str, str] | None = None) -> str:
    """A GitHub pipe table (no external dependency)."""
    headers = headers or {}
    names = [headers.get(c, c) for c in df.columns]

    def cell(v: object) -> str:
        return str(v).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(names) + " |", "|" + "|".join("---" for _ in names) + "|"]
    for row in df.itertuples(index=False):
        lines.append("| " + " | ".join(cell(v) for v in row) + " |")
    return "\n".join(lines) + "\n"


_TEX = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\^{}",
}
_TEX_SYMBOLS = {"±": r"$\pm$", "—": "---", "×": r"$\times$", "Δ": r"$\Delta$", "−": "--"}


def tex_escape(text: object) -> str:
    out = "".join(_TEX.get(ch, ch) for ch in str(text))
    for sym, rep in _TEX_SYMBOLS.items():
        out = out.replace(sym, rep)
    return out


def latex(
    df: pd.DataFrame,
    caption: str,
    label: str,
    headers: dict[str, str] | None = None,
    group: Sequence[str] = (),
    align: str | None = None,
) -> str:
    """A booktabs table; a \\midrule separates rows whose `group` columns change."""
    headers = headers or {}
    align = align or "".join("l" if df[c].dtype == object else "r" for c in df.columns)
    lines = [
        r"\begin{table}[t]",
        r"\centering\small",
        rf"\caption{{{tex_escape(caption)}}}",
        rf"\label{{{label}}}",
        rf"\begin{{tabular}}{{{align}}}",
        r"\toprule",
        " & ".join(tex_escape(headers.get(c, c)) for c in df.columns) + r" \\",
        r"\midrule",
    ]
    previous = None
    for _, row in df.iterrows():
        key = tuple(row[c] for c in group)
        if previous is not None and key != previous:
            lines.append(r"\midrule")
        previous = key
        lines.append(" & ".join(tex_escape(v) for v in row) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}", r"\end{table}", ""]
    return "\n".join(lines)


# ------------------------------------------------------------- paired differences (issue 28)

WORKING = "frontier vs magnitude, working parents"  # a secondary, conditional comparison
PAIRED_KINDS: tuple[str, ...] = (
    "vs dense",
    "matched sparsity",
    "frontier vs dense",
    "frontier vs magnitude",
    WORKING,
    "gate vs |g·W|, same parent",
)
PAIRED_COLUMNS: tuple[str, ...] = (
    *PAIR,
    "kind",
    "method",
    "baseline",
    "target_sparsity_pct",
    "epochs",
    "baseline_epochs",
    "n_pairs",
    "seeds",
    "diff_pp_mean",
    "diff_pp_ci_low",
    "diff_pp_ci_high",
    "claim",
    "n_unpaired",
    "n_runs",
    "n_missing",
    "n_diverged",
    "n_collapsed",
    "failure_rate",
    "failure_ci_low",
    "failure_ci_high",
)
# How failed runs enter the paired table (the caption of every rendering).
PAIRED_NOTE = (
    "Paired by seed: each difference is a run minus the run of the same seed it is compared "
    "with (the dense run of that seed, the matched pruning run of that seed, or the magnitude "
    "frontier run of that seed at the same target, or, for a gate ranking, the |g·W| ranking "
    "of the same gated parent: magnitude pruning of that parent's effective weights W·G, so "
    "that only the ranking differs); mean and 95% Student-t confidence interval "
    "over the pairs. A difference is claimed only where the interval excludes zero. Failed "
    "runs are counted, never dropped silently: a collapsed run (test accuracy at most twice "
    "chance) has an accuracy and stays in the mean; a diverged run has none, so its seed has "
    "no pair (counted in 'unpaired' and 'diverged'); failure rate = (collapsed + diverged) / "
    "runs that ran, of the compared method, with its 95% Wilson interval. Epochs (ep): each "
    "method's total training epochs (a pruning run counts its parent's epochs plus its "
    "fine-tuning)."
)

# Appended to the caption where the table has WORKING rows (a report without them is unchanged).
WORKING_NOTE = (
    "Where a gated parent (switcher, switcher-noise, free-gates) collapsed or diverged in some "
    "seeds, its gate rankings are compared with magnitude twice: over every seed (the answer), "
    "and again over the seeds whose parent works ('working parents only': conditional on the "
    "method not failing, so read it with its failure rate)."
)


def paired_note(paired: pd.DataFrame) -> str:
    """The paired table's caption: PAIRED_NOTE, plus WORKING_NOTE where it has such rows."""
    working = "kind" in paired and bool((paired["kind"] == WORKING).any())
    return PAIRED_NOTE + (f" {WORKING_NOTE}" if working else "")


@dataclass(frozen=True)
class _Side:
    """One method's runs in one comparison group: accuracy (%) per seed (NaN: no result),
    the counts of its runs and its total training epochs (NaN: none recorded)."""

    acc: dict[int, float]
    runs: int
    missing: int
    diverged: int
    collapsed: int
    epochs: float = math.nan


def _side(sel: pd.DataFrame, dataset: str, collapsed: Collapsed) -> _Side:
    ok = sel[sel["status"] == "ok"]
    acc = {
        int(seed): float(value) if status == "ok" else math.nan
        for seed, value, status in zip(sel["seed"], sel["acc_pct"], sel["status"], strict=True)
    }
    flags = collapsed(list(ok["acc_pct"]), dataset) if len(ok) else []
    status = sel["status"]
    epochs = pd.to_numeric(sel["epochs"], errors="coerce").max() if "epochs" in sel else math.nan
    return _Side(
        acc,
        len(sel),
        int((status == MISSING).sum()),
        int((status == DIVERGED_STATUS).sum()),
        int(sum(bool(f) for f in flags)),
        float(epochs),
    )


def _unified(runs: pd.DataFrame, points: pd.DataFrame | None) -> pd.DataFrame:
    """Runs and frontier points in one frame: PAIR, method, seed, status, acc_pct, target
    (NaN: not a frontier run), matched_to (the method a matched run was matched to)."""
    main = runs[[*PAIR, "method", "seed", "status"]].copy()
    main["epochs"] = runs.get("epochs", math.nan)
    main["acc_pct"] = runs["test_accuracy"].to_numpy(dtype=float) * 100.0
    main["target"] = math.nan
    main["matched_to"] = [_matched_method(v) for v in runs.get("matched_run", [None] * len(runs))]
    parts = [main]
    if points is not None and len(points):
        front = points[[*PAIR, "method", "seed"]].copy()
        front["status"] = points.get("status", "ok")
        front["epochs"] = points.get("epochs", math.nan)
        front["acc_pct"] = points["test_acc_pct"].to_numpy(dtype=float)
        front["target"] = points["target_sparsity_pct"].to_numpy(dtype=float)
        front["matched_to"] = None
        parts.append(front)
    return pd.concat(parts, ignore_index=True)


def magnitude_twin(method: str) -> str | None:
    """For a method ranking a gated run by its gate g: the method ranking the same parent by
    |g·W|, i.e. magnitude pruning of that run's effective weights W·G (the comparison that
    isolates the ranking: same parent network, same fine-tuning); else None."""
    spec = CATALOG.get(method)
    if spec is None or spec.criterion != "gate":
        return None
    return next(
        (m for m, s in CATALOG.items() if s.criterion == "gate-weight" and s.parent == spec.parent),
        None,
    )


def _working_seeds(
    main: pd.DataFrame, method: str, dataset: str, collapsed: Collapsed
) -> set[int] | None:
    """The seeds whose gated parent run of `method` finished and did not collapse, where some
    other seed's parent failed (None when every parent works, or `method` has no gated
    parent: then the all-seeds comparison already is this one)."""
    parent = CATALOG[method].parent if method in CATALOG else None
    if parent in (None, "dense"):
        return None
    runs = main[main["method"] == parent]
    ok = runs[runs["status"] == "ok"]
    bad = collapsed(list(ok["acc_pct"]), dataset) if len(ok) else []
    working = {int(s) for s, b in zip(ok["seed"], bad, strict=True) if not b}
    failed = int((runs["status"] == DIVERGED_STATUS).sum()) + int(sum(bool(b) for b in bad))
    return working if failed and working else None


def paired_table(
    runs: pd.DataFrame,
    points: pd.DataFrame | None = None,
    *,
    collapsed: Collapsed,
    level: float = 0.95,
) -> pd.DataFrame:
    """Paired differences of test accuracy (percentage points), per profile/dataset/arch:
    every method vs dense; every switcher variant vs the pruning runs matched to its sparsity;
    with frontier `points` (one row per frontier run, as `report.frontier.collect_frontier`,
    optionally with a `status` column for diverged runs), each frontier method at each target
    vs dense, and each other frontier method vs magnitude at the same target. `runs`: one row
    per run as `Collection.runs` (status, test_accuracy as a fraction, matched_run).
    `collapsed(acc_pct, dataset)`: the report's collapse rule (`figures.collapsed`)."""
    df = _unified(runs, points)
    rows: list[dict[str, object]] = []

    def add(
        pair: tuple, kind: str, method: str, baseline: str, target: float, a: _Side, b: _Side
    ) -> None:
        diff = paired_interval(a.acc, b.acc, level)
        have = {s for side in (a, b) for s, v in side.acc.items() if not math.isnan(v)}
        paired = sorted(
            s
            for s in have
            if s in a.acc and s in b.acc and not math.isnan(a.acc[s]) and not math.isnan(b.acc[s])
        )
        ran = a.runs - a.missing
        rate = wilson_interval(a.collapsed + a.diverged, ran, level)
        rows.append(
            {
                **dict(zip(PAIR, pair, strict=True)),
                "kind": kind,
                "method": method,
                "baseline": baseline,
                "target_sparsity_pct": target,
                "epochs": a.epochs,
                "baseline_epochs": b.epochs,
                "n_pairs": diff.n,
                "seeds": ",".join(map(str, paired)),
                "diff_pp_mean": diff.estimate,
                "diff_pp_ci_low": diff.low,
                "diff_pp_ci_high": diff.high,
                "claim": claim(diff),
                "n_unpaired": len(have) - len(paired),
                "n_runs": a.runs,
                "n_missing": a.missing,
                "n_diverged": a.diverged,
                "n_collapsed": a.collapsed,
                "failure_rate": rate.estimate,
                "failure_ci_low": rate.low,
                "failure_ci_high": rate.high,
            }
        )

    for pair, group in df.groupby(list(PAIR), sort=True):
        dataset = str(pair[1])
        main = group[group["target"].isna()]
        front = group[group["target"].notna()]

        def side(sel: pd.DataFrame) -> _Side:
            return _side(sel, dataset, collapsed)  # noqa: B023 (called at once)

        dense = side(main[main["method"] == "dense"])
        for method in method_order(main["method"].unique()):
            if method != "dense":
                add(
                    pair,
                    "vs dense",
                    method,
                    "dense",
                    math.nan,
                    side(main[main["method"] == method]),
                    dense,
                )
        matched = main[main["matched_to"].notna()]
        for (method, variant), sel in matched.groupby(["method", "matched_to"], sort=True):
            add(
                pair,
                "matched sparsity",
                str(variant),
                str(method),
                math.nan,
                side(main[main["method"] == variant]),
                side(sel),
            )
        working_of = {
            m: _working_seeds(main, m, dataset, collapsed)  # once per method
            for m in front["method"].unique()
        }
        for target, at in front.groupby("target", sort=True):
            magnitude = at[at["method"] == "magnitude"]
            for method in method_order(at["method"].unique()):
                mine = side(at[at["method"] == method])
                add(pair, "frontier vs dense", method, "dense", float(target), mine, dense)
                if method != "magnitude" and len(magnitude):
                    add(
                        pair,
                        "frontier vs magnitude",
                        method,
                        "magnitude",
                        float(target),
                        mine,
                        side(magnitude),
                    )
                    working = working_of[method]
                    if working is not None:
                        add(
                            pair,
                            WORKING,
                            method,
                            "magnitude",
                            float(target),
                            side(at[(at["method"] == method) & at["seed"].isin(working)]),
                            side(magnitude[magnitude["seed"].isin(working)]),
                        )
                twin = magnitude_twin(method)
                if twin is not None and (at["method"] == twin).any():
                    add(
                        pair,
                        "gate vs |g·W|, same parent",
                        method,
                        twin,
                        float(target),
                        mine,
                        side(at[at["method"] == twin]),
                    )
    if not rows:
        return pd.DataFrame(columns=list(PAIRED_COLUMNS))
    out = pd.DataFrame(rows, columns=list(PAIRED_COLUMNS))
    order = {m: i for i, m in enumerate(method_order(out["method"].unique()))}
    out = out.assign(_k=out["kind"].map(PAIRED_KINDS.index), _m=out["method"].map(order))
    out = out.sort_values([*PAIR, "_k", "target_sparsity_pct", "_m"], kind="stable")
    return out.drop(columns=["_k", "_m"]).reset_index(drop=True)


PAIRED_HEADERS = {
    "dataset": "dataset",
    "arch": "arch",
    "comparison": "comparison (same seed)",
    "diff": "Δ test acc. (pp), mean [95% CI]",
    "claim": "reading",
    "pairs": "pairs (seeds)",
    "failures": "runs: collapsed / diverged / missing",
    "rate": "failure rate [95% Wilson]",
}


def epochs_text(epochs: float) -> str:
    """' (12 ep)': a method's total training epochs in a comparison's name."""
    return "" if epochs is None or math.isnan(epochs) else f" ({epochs:g} ep)"


def paired_display(paired: pd.DataFrame) -> pd.DataFrame:
    """Strings for the paired table (Markdown, LaTeX)."""
    rows = []
    for r in paired.itertuples(index=False):
        at = "" if math.isnan(r.target_sparsity_pct) else f" at {r.target_sparsity_pct:g}%"
        ci = (
            f" [{_fmt_num(r.diff_pp_ci_low, signed=True)}, "
            f"{_fmt_num(r.diff_pp_ci_high, signed=True)}]"
        )
        diff = _fmt_num(r.diff_pp_mean, signed=True) + (ci if r.n_pairs > 1 else "")
        rate = (
            DASH
            if math.isnan(r.failure_rate)
            else f"{r.n_collapsed + r.n_diverged}/{r.n_runs - r.n_missing} = "
            f"{100 * r.failure_rate:.0f}% [{100 * r.failure_ci_low:.0f}, "
            f"{100 * r.failure_ci_high:.0f}]"
        )
        rows.append(
            {
                "profile": r.profile,
                "dataset": r.dataset,
                "arch": r.arch,
                "comparison": f"{r.method}{at}{epochs_text(r.epochs)} − {r.baseline}"
                + (at if r.baseline != "dense" else "")
                + epochs_text(r.baseline_epochs)
                + (" (matched to it)" if r.kind == "matched sparsity" else "")
                + (" (working parents only)" if r.kind == WORKING else ""),
                "diff": diff if r.n_pairs else DASH,
                "claim": r.claim,
                "pairs": f"{r.n_pairs} ({r.seeds or DASH})"
                + (f", {r.n_unpaired} unpaired" if r.n_unpaired else ""),
                "failures": f"{r.n_collapsed} / {r.n_diverged} / {r.n_missing} of {r.n_runs}",
                "rate": rate,
            }
        )
    return pd.DataFrame(rows, columns=["profile", *PAIRED_HEADERS])
