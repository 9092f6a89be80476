"""The pre-registered primary table (issue 37): each comparison of conf/analysis.yaml with its
paired mean difference, 95% t interval, exact sign-flip p, Holm-adjusted p and decision.

Why a module of its own: the primary family is the only place the report makes claims, and
its rules (which runs are an arm, how a failed seed enters, what decides) are fixed by the
analysis file before the runs. Everything here follows that file; nothing is chosen from the
results. Metrics only (no plotting): `tables/primary.{csv,md}` and the README's section.

A side of a comparison is `{method}` (a finished parent run) or `{method, sparsity}` (a
frontier, gate-ranked or control point at that target). A seed whose switcher-type run
diverged enters at the analysis' chance accuracy under intention to treat, or is dropped;
a missing run (not trained yet) is never imputed: the comparison is provisional until every
pre-registered seed has both sides.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import pandas as pd

from weightswitch.catalog import CATALOG
from weightswitch.report.analysis import Analysis
from weightswitch.report.collect import (
    STATUS_DIVERGED,
    STATUS_OK,
    UNRECORDED,
    Collection,
    numerics_summary,
    run_numerics,
)
from weightswitch.report.render import DASH, fmt_num
from weightswitch.report.stats import (
    holm,
    paired_differences,
    sign_flip_p,
    t_interval,
    wilson_interval,
)

COLUMNS = (
    "id",
    "question",
    "arm",
    "reference",
    "n",
    "seeds",
    "seeds_done",
    "mean_pp",
    "ci_low",
    "ci_high",
    "p_raw",
    "p_holm",
    "decision",
    "arm_w_epochs",
    "reference_w_epochs",
    "numerics",
    "note",
)
HEADERS = {
    "id": "id",
    "question": "question",
    "comparison": "arm − reference",
    "n": "n (seeds)",
    "mean": "mean (pp) [95% CI]",
    "p_raw": "p (sign-flip)",
    "p_holm": "p (Holm)",
    "decision": "decision",
    "w_epochs": "epochs W trained",
    "numerics": "threads, CPU",
    "note": "note",
}


@dataclass(frozen=True)
class SideValues:
    """Per seed: test accuracy (%), or None for a diverged run; the epochs its W trained and
    its numerics (threads, CPU capability) per seed."""

    acc: dict[int, float | None]
    w_epochs: dict[int, int]
    numerics: dict[int, str]


def _label(side: dict[str, Any]) -> str:
    name = CATALOG[side["method"]].display if side["method"] in CATALOG else side["method"]
    sp = side.get("sparsity")
    return name if sp is None else f"{name} @ {100 * float(sp):g}%"


def side_values(
    side: dict[str, Any], col: Collection, points: pd.DataFrame | None, study: dict[str, Any]
) -> SideValues:
    """The runs (or frontier points) that make one side of a comparison."""
    keep = {
        "profile": study["profile"],
        "dataset": study["dataset"],
        "arch": study["arch"],
        "method": side["method"],
    }
    if side.get("sparsity") is None:
        frame, acc_col, scale = col.runs, "test_accuracy", 100.0
    else:
        frame, acc_col, scale = (
            (points if points is not None else pd.DataFrame()),
            "test_acc_pct",
            1.0,
        )
    if frame.empty:
        return SideValues({}, {}, {})
    mask = pd.Series(True, index=frame.index)
    for key, value in keep.items():
        mask &= frame[key] == value
    if side.get("sparsity") is not None:
        mask &= (frame["target_sparsity_pct"] - 100.0 * float(side["sparsity"])).abs() < 1e-6
    acc: dict[int, float | None] = {}
    epochs: dict[int, int] = {}
    numerics: dict[int, str] = {}
    for row in frame[mask].itertuples(index=False):
        seed = int(row.seed)
        if row.status == STATUS_DIVERGED:
            acc[seed] = None
        elif row.status == STATUS_OK:
            acc[seed] = scale * float(getattr(row, acc_col))
        else:
            continue
        w = getattr(row, "w_epochs", None)
        if w is not None and not (isinstance(w, float) and math.isnan(w)):
            epochs[seed] = int(w)
        numerics[seed] = run_numerics(
            getattr(row, "threads", None), getattr(row, "cpu_capability", None)
        )
    return SideValues(acc, epochs, numerics)


def _entered(values: SideValues, itt: bool, chance_pct: float) -> dict[int, float]:
    """Per seed, the accuracy that enters the comparison: a diverged run at chance under
    intention to treat, otherwise dropped."""
    out = {}
    for seed, acc in values.acc.items():
        if acc is not None:
            out[seed] = acc
        elif itt:
            out[seed] = chance_pct
    return out


def _epochs_text(values: SideValues) -> str:
    found = sorted(set(values.w_epochs.values()))
    return DASH if not found else "/".join(map(str, found))


def failures(
    col: Collection, study: dict[str, Any], method: str, failure: dict[str, Any]
) -> tuple[int, int, list[int]]:
    """(failed, ran, failed seeds) of `method`: diverged, or final validation accuracy at
    most the analysis' collapse threshold (test accuracy decides nothing)."""
    runs = col.runs
    mine = runs[
        (runs["profile"] == study["profile"])
        & (runs["dataset"] == study["dataset"])
        & (runs["arch"] == study["arch"])
        & (runs["method"] == method)
        & runs["status"].isin([STATUS_OK, STATUS_DIVERGED])
    ]
    limit = float(failure["collapsed_val_accuracy_at_most"])
    failed = [
        int(r.seed)
        for r in mine.itertuples(index=False)
        if r.status == STATUS_DIVERGED or float(r.val_accuracy) <= limit
    ]
    return len(failed), len(mine), sorted(failed)


def primary_table(col: Collection, points: pd.DataFrame | None, analysis: Analysis) -> pd.DataFrame:
    """One row per pre-registered comparison (conf/analysis.yaml `primary`), in its order."""
    study, failure = analysis.study, analysis.failure
    chance = 100.0 * float(failure["diverged_accuracy"])
    alpha = float(analysis.tests["alpha"])
    planned = len(study["seeds"])
    rows: list[dict[str, Any]] = []
    for entry in analysis.primary:
        row: dict[str, Any] = {
            "id": entry["id"],
            "question": entry["question"],
            "arm": _label(entry["arm"]),
        }
        if "reference" not in entry:  # a rate (f): failures with a Wilson interval
            k, n, seeds = failures(col, study, entry["arm"]["method"], failure)
            rate = wilson_interval(k, n)
            row.update(
                reference=DASH,
                n=n,
                seeds_done=n,
                seeds=",".join(map(str, seeds)) or "none failed",
                mean_pp=100 * rate.estimate if n else math.nan,
                ci_low=100 * rate.low,
                ci_high=100 * rate.high,
                p_raw=math.nan,
                note=f"{k} of {n} failed (Wilson 95% interval, %)",
            )
            row["decision"] = (
                "no run yet"
                if n == 0
                else "not stable at this budget"
                if k
                else f"no failure in {n} seeds"
            )
            rows.append(row)
            continue
        itt = str(entry.get("failed_seed", "")).startswith("intention to treat")
        arm = side_values(entry["arm"], col, points, study)
        ref = side_values(entry["reference"], col, points, study)
        diffs = paired_differences(_entered(arm, itt, chance), _entered(ref, itt, chance))
        ci = t_interval(diffs.values())
        labels = [arm.numerics.get(s, UNRECORDED) for s in diffs]
        labels += [ref.numerics.get(s, UNRECORDED) for s in diffs]
        row.update(
            reference=_label(entry["reference"]),
            n=len(diffs),
            seeds_done=len(set(arm.acc) & set(ref.acc)),
            seeds=",".join(map(str, diffs)),
            mean_pp=ci.estimate,
            ci_low=ci.low,
            ci_high=ci.high,
            p_raw=sign_flip_p(diffs.values()) if diffs else math.nan,
            arm_w_epochs=_epochs_text(arm),
            reference_w_epochs=_epochs_text(ref),
            numerics=numerics_summary(labels),
        )
        if entry["id"] == "a":  # the paper's claim carries the switcher's sparsity
            sp = col.runs[
                (col.runs["method"] == entry["arm"]["method"])
                & (col.runs["profile"] == study["profile"])
                & (col.runs["status"] == STATUS_OK)
            ]["fc_sparsity"]
            if len(sp):
                row["note"] = (
                    f"switcher FC sparsity {100 * sp.mean():.2f}% (range "
                    f"{100 * sp.min():.2f} to {100 * sp.max():.2f})"
                )
        rows.append(row)
    table = pd.DataFrame(rows, columns=list(COLUMNS))
    # Holm over the whole pre-registered family: a comparison without pairs yet counts as
    # p = 1, so a provisional table is never corrected over fewer tests than were planned
    testable = [r != DASH for r in table["reference"]]
    filled = [
        1.0 if t and math.isnan(p) else p for t, p in zip(testable, table["p_raw"], strict=True)
    ]
    table["p_holm"] = [
        math.nan if math.isnan(p) else h for p, h in zip(table["p_raw"], holm(filled), strict=True)
    ]
    decisions = []
    for r in table.itertuples(index=False):
        if isinstance(r.decision, str):
            decisions.append(r.decision)
        elif r.n == 0:
            decisions.append("no pairs yet")
        elif r.p_holm < alpha:
            decisions.append(
                f"{'higher' if r.mean_pp > 0 else 'lower'}: {r.arm} "
                f"{'above' if r.mean_pp > 0 else 'below'} {r.reference}"
            )
        else:
            decisions.append("no detectable difference")
        if 0 < r.seeds_done < planned:
            decisions[-1] += f" (provisional: {r.seeds_done} of {planned} seeds done)"
    table["decision"] = decisions
    return table


def _p(v: float) -> str:
    return fmt_num(v, digits=4)


def _num(v: float) -> str:
    return fmt_num(v, signed=True)


def display(table: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for r in table.itertuples(index=False):
        is_rate = r.reference == DASH
        mean = (
            f"{r.mean_pp:.1f}% [{r.ci_low:.1f}, {r.ci_high:.1f}]"
            if is_rate and r.n
            else f"{_num(r.mean_pp)} [{_num(r.ci_low)}, {_num(r.ci_high)}]"
        )
        rows.append(
            {
                "id": r.id,
                "question": r.question,
                "comparison": r.arm if is_rate else f"{r.arm} − {r.reference}",
                "n": f"{r.n} ({r.seeds})" if r.seeds else str(r.n),
                "mean": mean,
                "p_raw": _p(r.p_raw),
                "p_holm": _p(r.p_holm),
                "decision": r.decision,
                "w_epochs": DASH if is_rate else f"{r.arm_w_epochs} vs {r.reference_w_epochs}",
                "numerics": r.numerics if isinstance(r.numerics, str) else DASH,
                "note": r.note if isinstance(r.note, str) else "",
            }
        )
    return pd.DataFrame(rows, columns=list(HEADERS))


def caption(analysis: Analysis) -> str:
    t = analysis.tests
    return (
        f"PRIMARY (pre-registered in docs/preregistration.md and conf/analysis.yaml before any "
        f"run of this study): test accuracy, arm − reference in percentage points, paired by "
        f"seed; {t['interval']}; p: {t['p_value']}; Holm-adjusted over the comparisons with a "
        f"p-value, alpha {t['alpha']}. A claim is made only where the Holm-adjusted p is below "
        f"alpha. Failed seeds enter as pre-registered (intention to treat: a diverged arm at "
        f"{100 * float(analysis.failure['diverged_accuracy']):g}% accuracy). 'epochs W "
        f"trained': the epochs in which each arm's FC weights were updated (a switcher's W "
        f"trains in its TNN epochs only). Every other table of this report is EXPLORATORY."
    )
