"""`weightswitch plots [DVC OPTIONS]`: `dvc plots show` for the workspace's grid x profile,
or one line saying that this pair has no report yet.

dvc.yaml's plots read `reports/<grid>/<profile>/tables/{runs,history}.csv` and the report's
figures/ for the pair in params.yaml; on a pair that has not run, `dvc plots show` fails
with a file-type error per plot. This checks those files first.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

from weightswitch.errors import UsageError

NEEDED = ("tables/runs.csv", "tables/history.csv", "figures")


def reported_pairs(root: Path) -> list[str]:
    """The grid/profile pairs with a report under reports/."""
    return sorted(
        f"{p.parents[1].parent.name} x {p.parents[1].name}"
        for p in (root / "reports").glob("*/*/tables/runs.csv")
    )


def check_report(root: Path) -> Path:
    """The workspace pair's report folder; a one-line UsageError when its plot data is absent."""
    import yaml

    try:
        params = yaml.safe_load((root / "params.yaml").read_text(encoding="utf-8")) or {}
    except OSError:
        raise UsageError(f"no params.yaml in {root}: run it in the project root") from None
    grid, profile = params.get("grid"), params.get("profile")
    report = root / "reports" / str(grid) / str(profile)
    missing = [name for name in NEEDED if not (report / name).exists()]
    if missing:
        others = ", ".join(reported_pairs(root)) or "none"
        raise UsageError(
            f"{grid} x {profile} has not run: no {report.relative_to(root) / missing[0]}; "
            f"`dvc repro` makes it (reports so far: {others}; "
            "switch with `weightswitch params --grid G --profile P`)"
        )
    return report


def run(args: argparse.Namespace) -> int:
    root = Path(".")
    check_report(root)
    dvc = shutil.which("dvc") or str(Path(sys.executable).with_name("dvc"))
    sys.stdout.flush()
    os.execv(dvc, [dvc, "plots", "show", *args.unknown])  # DVC's own output and exit code


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "plots",
        help="`dvc plots show` for the workspace's pair, or one line if it has not run",
        description="Run `dvc plots show [DVC OPTIONS]` (e.g. --json, -o DIR) in the project "
        "root after checking that the workspace's grid x profile has a report.",
        usage="weightswitch plots [-h] [DVC OPTIONS]",
    )
    p.set_defaults(func=run, pass_unknown=True)  # every other option goes to dvc
    return p
