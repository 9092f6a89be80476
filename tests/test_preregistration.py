"""Issue 37: the study's analysis is fixed before its runs. conf/analysis.yaml is valid, names
catalog methods only, and the commit that added it is an ancestor of the commit of every run
record in the pre-registered report."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from weightswitch.catalog import METHODS
from weightswitch.errors import UsageError
from weightswitch.report.analysis import (
    ANALYSIS_FILE,
    descends_from_preregistration,
    load_analysis,
)

PROJECT = Path(__file__).resolve().parents[1]


def test_the_analysis_file_is_a_small_primary_family_of_catalog_methods() -> None:
    analysis = load_analysis(PROJECT / ANALYSIS_FILE)
    assert len(analysis.primary) <= 6
    assert analysis.tests["correction"] == "holm"
    for entry in analysis.primary:
        for side in ("arm", "reference"):
            if side in entry:
                assert entry[side]["method"] in METHODS, entry
        assert entry["decision"] and entry["question"], entry


def test_every_record_of_the_preregistered_report_descends_from_the_preregistration() -> None:
    if not (PROJECT / ".git").exists():
        pytest.skip("not a git checkout")
    analysis = load_analysis(PROJECT / ANALYSIS_FILE)
    records = PROJECT / analysis.report_folder / "records"
    assert descends_from_preregistration(PROJECT, records) == {}


def _git(root: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=root, check=True, capture_output=True, text=True
    ).stdout.strip()


def test_a_record_from_before_the_preregistration_is_caught(tmp_path: Path) -> None:
    _git(tmp_path, "init", "-q")
    _git(tmp_path, "config", "user.email", "t@example.org")
    _git(tmp_path, "config", "user.name", "t")
    (tmp_path / "README").write_text("x\n")
    _git(tmp_path, "add", ".")
    _git(tmp_path, "commit", "-qm", "before")
    before = _git(tmp_path, "rev-parse", "HEAD")
    (tmp_path / "conf").mkdir()
    (tmp_path / ANALYSIS_FILE).write_text("primary: []\n")
    _git(tmp_path, "add", ".")
    _git(tmp_path, "commit", "-qm", "pre-register")
    after = _git(tmp_path, "rev-parse", "HEAD")
    records = tmp_path / "records"
    for name, commit in (("early", before), ("late", after), ("dirty", f"{after}-dirty")):
        (records / name).mkdir(parents=True)
        (records / name / "metrics.json").write_text(json.dumps({"git_commit": commit}))
    bad = descends_from_preregistration(tmp_path, records)
    assert set(bad) == {"early", "dirty"}
    assert "does not descend" in bad["early"] and "not a clean commit" in bad["dirty"]


def test_a_broken_analysis_file_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "analysis.yaml"
    path.write_text("study: {}\nprimary: []\n")
    with pytest.raises(UsageError, match="missing tests, failure, deviations") as info:
        load_analysis(path)
    assert "\n" not in str(info.value)
