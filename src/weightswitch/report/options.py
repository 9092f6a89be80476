"""`ReportOptions`: what `build_report` reports and where else it writes; its option fields
are also the `report` command's flags (`report.cli`). Kept apart from `report.build`, whose
imports (pandas, matplotlib) `weightswitch --help` must not pay for."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from weightswitch.options import option

Log = Callable[[str], None]


def print_log(msg: str) -> None:
    print(f"report: {msg}", flush=True)


def print_warning(msg: str) -> None:
    print(f"report: warning: {msg}", file=sys.stderr, flush=True)


@dataclass(frozen=True)
class ReportOptions:
    """What `build_report` reports and where else it writes (the `report` command's flags)."""

    profile: str | None = option(
        "report only this profile (default: every profile found)", default=None
    )
    expected: Path | None = option(
        "JSON/YAML list of expected runs {dataset, arch, method, seed"
        "[, profile]}; those absent are reported as missing",
        default=None,
    )
    frontier: Path | None = option(
        "root of the frontier runs (results/frontier/<profile>): the sparsity-accuracy "
        "figure and table with the switcher's ablations",
        default=None,
    )
    grid: str | None = option(
        "grid name shown in captions (default: from --expected)", default=None
    )
    workspace: Path | None = option(
        "also write WORKSPACE/metrics/*.json (headline metrics for dvc metrics) and "
        "WORKSPACE/README.md (index of every WORKSPACE/<grid>/<profile>/ report)",
        default=None,
    )
    rebuild: bool = False  # rebuild from the report's committed records/ alone
    command: str = "weightswitch report"  # the command the README says wrote it
    log: Log = print_log
    warn: Log = print_warning
