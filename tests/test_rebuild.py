"""Reports rebuild from git alone: `weightswitch report --rebuild DIR` rewrites every file of a
report from its committed records/ (no run folders, no gates.pt), byte-identical to what the
pipeline wrote, except the README's one generation line (time and code commit)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from test_report import PAIRS, SEEDS, write_run
from weightswitch.cli import main
from weightswitch.report.build import ReportOptions, build_report

PROJECT = Path(__file__).resolve().parents[1]
GENERATED = "- Generated: "


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file's bytes, except records/ and the README's generation line."""
    out = {}
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder).as_posix()
        if not path.is_file() or rel.startswith("records/"):
            continue
        data = path.read_bytes()
        if path.name == "README.md":
            data = b"\n".join(x for x in data.split(b"\n") if not x.startswith(GENERATED.encode()))
        out[rel] = data
    return out


def rebuild_in(tmp: Path, report: str) -> None:
    """Rebuild `report` (a path relative to `tmp`) from its records, from `tmp` as the CWD."""
    cwd = os.getcwd()
    os.chdir(tmp)
    try:
        assert main(["report", "--rebuild", report]) == 0
    finally:
        os.chdir(cwd)


def test_report_rebuilds_byte_identical_from_records_alone(tmp_path: Path) -> None:
    results = tmp_path / "results" / "runs"
    for dataset, arch in PAIRS:
        for method in ("dense", "switcher", "switcher-neuron", "magnitude"):
            for seed in SEEDS:
                write_run(results, dataset, arch, method, seed)
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        quiet = ReportOptions(log=lambda _: None, warn=lambda _: None)
        build_report(Path("results/runs"), Path("reports/g/p"), quiet)
    finally:
        os.chdir(cwd)
    report = tmp_path / "reports" / "g" / "p"
    before = snapshot(report)
    assert any(k.startswith("figures/gate") for k in before)  # gate figures are covered
    assert (report / "records" / "gate_maps.npz").is_file()
    # a fresh clone: no run folders, only what git holds (the report with its records)
    clone = tmp_path / "clone"
    shutil.copytree(report, clone / "reports" / "g" / "p")
    for path in (clone / "reports" / "g" / "p").rglob("*"):
        if path.is_file() and "records" not in path.parts:
            path.unlink()  # every generated file goes; the rebuild must write it again
    rebuild_in(clone, "reports/g/p")
    after = snapshot(clone / "reports" / "g" / "p")
    assert sorted(after) == sorted(before)
    changed = [name for name in before if before[name] != after[name]]
    assert not changed, changed


def test_rebuild_without_records_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    (tmp_path / "old").mkdir()
    assert main(["report", "--rebuild", str(tmp_path / "old")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no records/" in err[0]


def committed_reports() -> list[str]:
    return sorted(
        str(p.parent.parent.relative_to(PROJECT))
        for p in (PROJECT / "reports").glob("*/*/records/report.json")
    )


@pytest.mark.parametrize("report", committed_reports())
def test_committed_report_rebuilds_byte_identical(report: str, tmp_path: Path) -> None:
    """Every committed report that keeps records (the default pair's at least) rebuilds
    from git alone to exactly its committed bytes."""
    shutil.copytree(PROJECT / report, tmp_path / report)
    before = snapshot(tmp_path / report)
    rebuild_in(tmp_path, report)
    after = snapshot(tmp_path / report)
    changed = [
        name for name in sorted(set(before) | set(after)) if before.get(name) != after.get(name)
    ]
    assert not changed, f"{report}: rebuilt files differ from the committed ones: {changed[:5]}"
