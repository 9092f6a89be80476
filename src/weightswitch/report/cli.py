"""`weightswitch report`: regenerate every table and figure from the run outputs."""

from __future__ import annotations

import argparse
from pathlib import Path


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
    parser.add_argument(
        "--results",
        type=Path,
        default=Path("results/runs"),
        help="results root holding <profile>/<run>/metrics.json (default: results/runs)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="the report's own folder (default: reports/<grid>/<profile> when --grid and "
        "--profile are given; never reports/ itself, which indexes every report)",
    )
    parser.add_argument(
        "--profile", default=None, help="report only this profile (default: every profile found)"
    )
    parser.add_argument(
        "--expected",
        type=Path,
        default=None,
        help="JSON/YAML list of expected runs {dataset, arch, method, seed"
        "[, profile]}; those absent are reported as missing",
    )
    parser.add_argument(
        "--frontier",
        type=Path,
        default=None,
        help="root of the frontier runs (results/frontier/<profile>): the sparsity-accuracy "
        "figure and table with the switcher's ablations",
    )
    parser.add_argument(
        "--grid", default=None, help="grid name shown in captions (default: from --expected)"
    )
    parser.add_argument(
        "--workspace",
        type=Path,
        default=None,
        help="also write WORKSPACE/metrics/*.json (headline metrics for dvc metrics) and "
        "WORKSPACE/README.md (index of every WORKSPACE/<grid>/<profile>/ report)",
    )
    parser.add_argument(
        "--rebuild",
        type=Path,
        default=None,
        metavar="REPORT_DIR",
        help="rebuild a committed report from its records/ alone (git, no run folders), "
        "e.g. --rebuild reports/fashion/quick",
    )
    parser.set_defaults(func=run)
    return parser


def _out(args: argparse.Namespace) -> Path:
    """The report folder: --out, or reports/<grid>/<profile> (of --grid/--profile, else of the
    workspace's params.yaml); never reports/ itself, the index of every report."""
    from weightswitch.errors import UsageError
    from weightswitch.provenance import project_root

    out = args.out
    if out is None:
        grid, profile = args.grid, args.profile
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
        args.grid, args.profile = str(grid), str(profile)  # report that pair, nothing else
    if out.resolve() == (project_root() / "reports").resolve():
        raise UsageError(
            f"report: --out {out} is the index of every report (its README.md "
            "would be overwritten); give the report its own folder, e.g. "
            "reports/<grid>/<profile>"
        )
    return out


def run(args: argparse.Namespace) -> int:
    from weightswitch.report.build import ReportOptions, build_report

    if args.rebuild is not None:
        options = ReportOptions(
            profile=args.profile, grid=args.grid, workspace=args.workspace, rebuild=True
        )
        build_report(None, args.rebuild, options)
        return 0
    out = _out(args)  # first: it may set args.grid and args.profile
    options = ReportOptions(
        profile=args.profile,
        expected=args.expected,
        grid=args.grid,
        workspace=args.workspace,
        frontier=args.frontier,
    )
    build_report(args.results, out, options)
    return 0
