"""`weightswitch track RESULTS...`: put finished runs into the current MLflow store.

Why: a stage DVC restores from its run cache (or `dvc pull`) never runs `train`, so the store
it would have logged to lacks it (e.g. a shared server in the scale-out recipe). This logs
every finished run under the given folders that the store does not hold yet, completes any
left RUNNING by a kill after metrics.json, and leaves the others alone.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path

from weightswitch.errors import UsageError
from weightswitch.options import add_options, option, read_options


@dataclass(frozen=True)
class TrackOptions:
    """`track`'s options."""

    results: list[Path] = option(
        "folders holding run folders (**/metrics.json); default results, which holds the "
        "training runs (results/runs) and the frontier points (results/frontier) alike",
        positional=True,
        default_factory=lambda: [Path("results")],
        metavar="RESULTS_DIR",
    )


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "track",
        help="log finished runs the MLflow store lacks (DVC run cache, dvc pull)",
        description=__doc__.splitlines()[0],
    )
    add_options(parser, TrackOptions)
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    from weightswitch.config import config_from_json
    from weightswitch.run_files import CONFIG, METRICS
    from weightswitch.tracking import log_finished_run

    results = read_options(args, TrackOptions).results
    runs = sorted(p.parent for root in results for p in Path(root).rglob(METRICS))
    if not runs:
        raise UsageError(f"no finished runs ({METRICS}) under {', '.join(map(str, results))}")
    counts: dict[str, int] = {}
    for run_dir in runs:
        try:
            cfg = config_from_json(json.loads((run_dir / CONFIG).read_text("utf-8")))
        except (OSError, ValueError, UsageError) as exc:
            print(f"{run_dir}: skipped ({CONFIG}: {exc})")
            counts["skipped"] = counts.get("skipped", 0) + 1
            continue
        action = log_finished_run(run_dir, cfg)
        counts[action] = counts.get(action, 0) + 1
        if action == "off":
            break  # the store failed (one line said why): the rest would fail the same way
    print("track: " + ", ".join(f"{n} {k}" for k, n in sorted(counts.items())))
    return 1 if "off" in counts else 0
