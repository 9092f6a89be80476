"""Paired differences of test accuracy by seed (issue 28): the numbers behind the report's
exploratory comparisons, with their intervals and failure rates, and their display.

A run is compared with the run of the same seed it is paired with (the dense run, the matched
pruning run, the magnitude frontier run at the same target, or the |g·W| ranking of the same
gated parent); failed runs are counted, never dropped (`PAIRED_NOTE`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from weightswitch.catalog import CATALOG, method_order
from weightswitch.report.collect import (
    PAIR,
    STATUS_DIVERGED,
    STATUS_MISSING,
    STATUS_OK,
    UNRECORDED,
    numerics_summary,
    run_numerics,
)
from weightswitch.report.render import DASH, epochs_text, fmt_num
from weightswitch.report.stats import claim, paired_interval, wilson_interval
from weightswitch.report.tables import matched_method

# the report's collapse rule: (test accuracies in %, dataset) -> which runs collapsed
Collapsed = Callable[[Sequence[float], str], np.ndarray]
WORKING = "frontier vs magnitude, working parents"  # a secondary, conditional comparison
# A pruned run vs its parent's equal-budget control: the same parent fine-tuned exactly like
# its pruned children, nothing pruned (the answer to "what does pruning cost"); the pruned run
# vs the parent itself stays as a secondary row, labelled: the parent trained fewer epochs.
CONTROL = "vs equal-budget control"
PAIRED_KINDS: tuple[str, ...] = (
    "vs dense",
    CONTROL,
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
    "numerics",
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
    "fine-tuning). A pruned run minus its parent ('vs dense', 'frontier vs dense') compares "
    "unequal budgets and is labelled so; where the profile has the equal-budget control (the "
    "parent fine-tuned like its children, nothing pruned), the pruned run is compared with it."
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
    numerics: dict[int, str] = field(default_factory=dict)


def _side(sel: pd.DataFrame, dataset: str, collapsed: Collapsed) -> _Side:
    ok = sel[sel["status"] == STATUS_OK]
    acc = {
        int(seed): float(value) if status == STATUS_OK else math.nan
        for seed, value, status in zip(sel["seed"], sel["acc_pct"], sel["status"], strict=True)
    }
    flags = collapsed(list(ok["acc_pct"]), dataset) if len(ok) else []
    status = sel["status"]
    epochs = pd.to_numeric(sel["epochs"], errors="coerce").max() if "epochs" in sel else math.nan
    ran = sel[sel["status"] != STATUS_MISSING]
    numerics = {
        int(seed): run_numerics(threads, cpu)
        for seed, threads, cpu in zip(
            ran["seed"], ran["threads"], ran["cpu_capability"], strict=True
        )
    }
    return _Side(
        acc,
        len(sel),
        int((status == STATUS_MISSING).sum()),
        int((status == STATUS_DIVERGED).sum()),
        int(sum(bool(f) for f in flags)),
        float(epochs),
        numerics,
    )


def _unified(runs: pd.DataFrame, points: pd.DataFrame | None) -> pd.DataFrame:
    """Runs and frontier points in one frame: PAIR, method, seed, status, acc_pct, target
    (NaN: not a frontier run), matched_to (the method a matched run was matched to)."""
    main = runs[[*PAIR, "method", "seed", "status"]].copy()
    main["epochs"] = runs.get("epochs", math.nan)
    main["threads"] = runs.get("threads", math.nan)
    main["cpu_capability"] = runs.get("cpu_capability", None)
    main["acc_pct"] = runs["test_accuracy"].to_numpy(dtype=float) * 100.0
    main["target"] = math.nan
    main["matched_to"] = [matched_method(v) for v in runs.get("matched_run", [None] * len(runs))]
    parts = [main]
    if points is not None and len(points):
        front = points[[*PAIR, "method", "seed"]].copy()
        front["status"] = points.get("status", STATUS_OK)
        front["epochs"] = points.get("epochs", math.nan)
        front["threads"] = points.get("threads", math.nan)
        front["cpu_capability"] = points.get("cpu_capability", None)
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


def control_of(method: str) -> str | None:
    """The equal-budget control of a pruning method's parent (None: not a pruning method, or
    a control itself): the catalog's method of criterion 'none' with the same parent."""
    spec = CATALOG.get(method)
    if spec is None or spec.kind != "prune" or spec.criterion == "none":
        return None
    parent = spec.parent or "dense"
    return next(
        (
            m
            for m, s in CATALOG.items()
            if s.kind == "prune" and s.criterion == "none" and (s.parent or "dense") == parent
        ),
        None,
    )


def unequal_budget(method: str) -> bool:
    """Whether `method` minus its parent compares unequal budgets: a pruned (or control) run
    trained its parent's epochs plus its fine-tuning."""
    spec = CATALOG.get(method)
    return spec is not None and spec.kind == "prune"


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
    ok = runs[runs["status"] == STATUS_OK]
    bad = collapsed(list(ok["acc_pct"]), dataset) if len(ok) else []
    working = {int(s) for s, b in zip(ok["seed"], bad, strict=True) if not b}
    failed = int((runs["status"] == STATUS_DIVERGED).sum()) + int(sum(bool(b) for b in bad))
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
    `collapsed(acc_pct, dataset)`: the report's collapse rule (`seeds.collapsed`)."""
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
                "numerics": numerics_summary(
                    [side.numerics.get(s, UNRECORDED) for s in paired for side in (a, b)]
                ),
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
        controls = front[front["target"] == 0]

        def vs_control(method: str, target: float, mine: _Side) -> None:
            """`method` vs its parent's equal-budget control, where the profile has one."""
            control = control_of(method)
            runs = controls[controls["method"] == control]  # noqa: B023 (called at once)
            if control is not None and len(runs):
                add(pair, CONTROL, method, control, target, mine, side(runs))  # noqa: B023

        for method in method_order(main["method"].unique()):
            vs_control(method, math.nan, side(main[main["method"] == method]))
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
                vs_control(method, float(target), mine)
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


def paired_display(paired: pd.DataFrame) -> pd.DataFrame:
    """Strings for the paired table (Markdown, LaTeX)."""
    rows = []
    for r in paired.itertuples(index=False):
        at = "" if math.isnan(r.target_sparsity_pct) else f" at {r.target_sparsity_pct:g}%"
        ci = (
            f" [{fmt_num(r.diff_pp_ci_low, signed=True)}, "
            f"{fmt_num(r.diff_pp_ci_high, signed=True)}]"
        )
        diff = fmt_num(r.diff_pp_mean, signed=True) + (ci if r.n_pairs > 1 else "")
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
                + (" at 0%" if r.kind == CONTROL else at if r.baseline != "dense" else "")
                + epochs_text(r.baseline_epochs)
                + (" (matched to it)" if r.kind == "matched sparsity" else "")
                + (
                    " (secondary: unequal budget)"
                    if r.baseline == "dense" and unequal_budget(str(r.method))
                    else ""
                )
                + (" (working parents only)" if r.kind == WORKING else "")
                + (
                    f" [threads, CPU {r.numerics}]"
                    if str(getattr(r, "numerics", "")).startswith("DIFFER")
                    else ""
                ),
                "diff": diff if r.n_pairs else DASH,
                "claim": r.claim,
                "pairs": f"{r.n_pairs} ({r.seeds or DASH})"
                + (f", {r.n_unpaired} unpaired" if r.n_unpaired else ""),
                "failures": f"{r.n_collapsed} / {r.n_diverged} / {r.n_missing} of {r.n_runs}",
                "rate": rate,
            }
        )
    return pd.DataFrame(rows, columns=["profile", *PAIRED_HEADERS])
