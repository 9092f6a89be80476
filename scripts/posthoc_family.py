"""Correct a report's cited comparisons for multiplicity after the fact (issue 37).

Reads a post hoc family (conf/posthoc/*.yaml: the comparisons a reading cited) and the
report's committed records, and prints one Markdown row per comparison: n, mean paired
difference with its 95% t interval, the paired t-test p and the exact sign-flip p, each
Holm-adjusted over the whole family. Seeds pair as in the primary table (report.primary):
both sides' finished runs; a diverged run is dropped here (no pre-registered rule existed).
Everything it prints is exploratory: the family was chosen after the results were seen.

    python scripts/posthoc_family.py conf/posthoc/mnist-cpu.yaml
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import yaml
from scipy import stats

from weightswitch.report.collect import collect
from weightswitch.report.frontier import collect_frontier
from weightswitch.report.primary import side_values
from weightswitch.report.stats import holm, paired_differences, sign_flip_p, t_interval


def _label(side: dict) -> str:
    sp = side.get("sparsity")
    return side["method"] + ("" if sp is None else f" @ {100 * sp:g}%")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("family", type=Path)
    args = parser.parse_args(argv)
    fam = yaml.safe_load(args.family.read_text())
    records = Path(fam["report"]) / "records"
    col = collect(records / "runs", fam["profile"])
    points = collect_frontier(records / "frontier", fam["profile"], [])
    rows = []
    for entry in fam["family"]:
        study = {"profile": fam["profile"], "dataset": fam["dataset"], "arch": entry["arch"]}
        arm = side_values(entry["arm"], col, points, study)
        ref = side_values(entry["reference"], col, points, study)
        diffs = paired_differences(
            {s: a for s, a in arm.acc.items() if a is not None},
            {s: a for s, a in ref.acc.items() if a is not None},
        )
        ci = t_interval(diffs.values())
        xs = list(diffs.values())
        t_p = float(stats.ttest_1samp(xs, 0.0).pvalue) if len(xs) > 1 else math.nan
        rows.append((entry, ci, t_p, sign_flip_p(xs)))
    t_holm = holm([r[2] for r in rows])
    s_holm = holm([r[3] for r in rows])
    print(
        "| # | arch | arm − reference | n | mean (pp) [95% CI] | p (t) | Holm p (t) | "
        "p (sign-flip) | Holm p (sign-flip) |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for (entry, ci, t_p, s_p), th, sh in zip(rows, t_holm, s_holm, strict=True):
        print(
            f"| {entry['id']} | {entry['arch']} | {_label(entry['arm'])} − "
            f"{_label(entry['reference'])} | {ci.n} | {ci.estimate:+.2f} [{ci.low:+.2f}, "
            f"{ci.high:+.2f}] | {t_p:.4f} | {th:.4f} | {s_p:.4f} | {sh:.4f} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
