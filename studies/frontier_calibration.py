"""Calibrate the frontier's fine-tuning ON VALIDATION ACCURACY: prune finished dense runs to
one FC sparsity with several fine-tuning settings, tabulate each pruned run's validation
accuracy against its own dense parent's, and pick the setting with the highest mean
validation accuracy. Test accuracy is never read here (issue 37: no choice reads the test
set; tests/test_no_test_selection.py keeps it so).

Each setting is a name and the `weightswitch train` flags it adds; every run is
`weightswitch train --profile PROFILE --method METHOD --init-from PARENT --sparsity S` plus
those flags, one at a time (a finished run is not retrained, so an interrupted calibration
resumes). Prints a Markdown table: per setting and seed the parent's and the pruned run's
validation accuracy and their difference, then the mean difference with its 95% t interval
over the seeds (report.stats), and the chosen setting. Use seeds that the study does not
report (the `long` study calibrated on seeds 100 and 101). Results:
docs/frontier_calibration.md.

    OMP_NUM_THREADS=1 python studies/frontier_calibration.py \\
        --parents /tmp/h3/parents --root /work/wt-mnist/data --out /tmp/h3/runs --seeds 0 1 \\
        --setting "today=" \\
        --setting "cos-0.05=--finetune-epochs 6 --finetune-lr 0.05 --finetune-schedule cosine"

`--parents DIR` holds the dense runs as DIR/<dataset>-<arch>-dense-s<seed> (copies: a
pruning run only reads its parent).
"""

from __future__ import annotations

import argparse
import json
import shlex
from pathlib import Path


def run_one(args: argparse.Namespace, name: str, flags: list[str], seed: int) -> Path:
    from weightswitch.cli import main

    parent = args.parents / f"{args.dataset}-{args.arch}-dense-s{seed}"
    out = args.out / f"{args.dataset}-{args.arch}-{args.method}-{name}-{args.sparsity:g}-s{seed}"
    code = main(
        [
            "train",
            "--profile",
            args.profile,
            "--arch",
            args.arch,
            "--dataset",
            args.dataset,
            "--method",
            args.method,
            "--seed",
            str(seed),
            "--sparsity",
            str(args.sparsity),
            "--init-from",
            str(parent),
            "--root",
            str(args.root),
            "--out",
            str(out),
            "--no-mlflow",
            *flags,
        ]
    )
    if code != 0:
        raise SystemExit(f"{out}: weightswitch train exited {code}")
    return out


def val_accuracy(run: Path) -> float:
    """The run's final validation accuracy (%): the only number a choice here reads."""
    from weightswitch.run_files import METRICS

    return 100.0 * float(json.loads((run / METRICS).read_text())["val_accuracy"])


def main(argv: list[str] | None = None) -> int:
    from weightswitch.report.stats import paired_interval

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parents", type=Path, required=True)
    parser.add_argument("--root", type=Path, required=True, help="prepared data")
    parser.add_argument("--out", type=Path, required=True, help="where the runs go")
    parser.add_argument("--dataset", default="mnist")
    parser.add_argument("--arch", default="lenet300")
    parser.add_argument("--method", default="magnitude")
    parser.add_argument("--profile", default="cpu")
    parser.add_argument("--sparsity", type=float, default=0.9)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument(
        "--setting",
        action="append",
        default=[],
        metavar="NAME=FLAGS",
        help="a setting: its name and the train flags it adds (repeatable)",
    )
    args = parser.parse_args(argv)
    settings = [(n, shlex.split(f)) for n, _, f in (s.partition("=") for s in args.setting)]
    rows = [
        "| setting | flags | seed | dense val (%) | pruned val (%) | Δ (pp) |",
        "|---|---|---|---|---|---|",
    ]
    summary = [
        "| setting | mean pruned val (%) | mean Δ (pp) | 95% CI | n |",
        "|---|---|---|---|---|",
    ]
    means: dict[str, float] = {}
    for name, flags in settings:
        dense, pruned = {}, {}
        for seed in args.seeds:
            out = run_one(args, name, flags, seed)
            dense[seed] = val_accuracy(args.parents / f"{args.dataset}-{args.arch}-dense-s{seed}")
            pruned[seed] = val_accuracy(out)
            rows.append(
                f"| {name} | `{' '.join(flags) or '(profile)'}` | {seed} | "
                f"{dense[seed]:.2f} | {pruned[seed]:.2f} | "
                f"{pruned[seed] - dense[seed]:+.2f} |"
            )
        ci = paired_interval(pruned, dense)
        interval = f"{ci.low:+.2f} to {ci.high:+.2f}" if ci.defined else "—"
        means[name] = sum(pruned.values()) / len(pruned)
        summary.append(f"| {name} | {means[name]:.2f} | {ci.estimate:+.2f} | {interval} | {ci.n} |")
    chosen = max(means, key=means.__getitem__) if means else None
    print(
        "\n".join(rows)
        + "\n\n"
        + "\n".join(summary)
        + f"\n\nchosen (highest mean validation accuracy): {chosen}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
