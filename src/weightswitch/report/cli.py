"""`weightswitch report`: regenerate every table and figure from the run outputs."""

from __future__ import annotations

import argparse
import dataclasses
from dataclasses import dataclass
from pathlib import Path

from weightswitch.options import add_options, option, read_options
from weightswitch.report.options import ReportOptions


@dataclass(frozen=True)
class ReportCommand:
    """`report`'s options: where the runs are and the report goes, and `ReportOptions`."""

    results: Path = option(
        "results root holding <profile>/<run>/metrics.json (default: results/runs)",
        default=Path("results/runs"),
    )
    out: Path | None = option(
        "the report's own folder (default: reports/<grid>/<profile> when --grid and "
        "--profile are given; never reports/ itself, which indexes every report)",
        default=None,
    )
    report: ReportOptions = option(default_factory=ReportOptions)
    rebuild: Path | None = option(
        "rebuild a committed report from its records/ alone (git, no run folders), "
        "e.g. --rebuild reports/fashion/quick",
        default=None,
        metavar="REPORT_DIR",
    )


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "report",
        help="collect run outputs into tables (md/csv/tex) and figures (png/pdf)",
        description=(
            "Collect every run under --results (recursively, **/metrics.json) and write tidy "
            "tables, figures and an index README to --out. Profiles are never pooled: with no "
            "--profile, every profile found is reported side by side."
        ),
    )
    add_options(parser, ReportCommand)
    parser.set_defaults(func=run)
    return parser


def _out(
    out: Path | None, grid: str | None, profile: str | None
) -> tuple[Path, str | None, str | None]:
    """The report folder and the grid and profile it reports: --out, or
    reports/<grid>/<profile> (of --grid/--profile, else of the workspace's params.yaml, and
    then that pair alone); never reports/ itself, the index of every report."""
    from weightswitch.errors import UsageError
    from weightswitch.provenance import project_root

    if out is None:
        params = project_root() / "params.yaml"
        if not (grid and profile) and params.is_file():  # the workspace's pair
            from weightswitch.report.collect import read_yaml

            data = read_yaml(params, "params file")
            if isinstance(data, dict):
                grid, profile = grid or data.get("grid"), profile or data.get("profile")
        if not (grid and profile):
            raise UsageError(
                "report: pass --out DIR, or --grid and --profile for reports/<grid>/<profile>"
            )
        out = Path("reports") / str(grid) / str(profile)
        grid, profile = str(grid), str(profile)  # report that pair, nothing else
    if out.resolve() == (project_root() / "reports").resolve():
        raise UsageError(
            f"report: --out {out} is the index of every report (its README.md "
            "would be overwritten); give the report its own folder, e.g. "
            "reports/<grid>/<profile>"
        )
    return out, grid, profile


def run(args: argparse.Namespace) -> int:
    from weightswitch.report.build import build_report

    command = read_options(args, ReportCommand)
    chosen = command.report
    if command.rebuild is not None:
        options = ReportOptions(
            profile=chosen.profile, grid=chosen.grid, workspace=chosen.workspace, rebuild=True
        )
        build_report(None, command.rebuild, options)
        return 0
    out, grid, profile = _out(command.out, chosen.grid, chosen.profile)
    build_report(command.results, out, dataclasses.replace(chosen, grid=grid, profile=profile))
    return 0
