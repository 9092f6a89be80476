"""The pre-registered analysis (conf/analysis.yaml, docs/preregistration.md) and its guard.

Why: a claim is only as good as the moment its test was fixed. The analysis file names the
study's budget, seeds, primary comparisons, tests, correction and decision rules; it is
committed before any run of the study, and `descends_from_preregistration` checks that every
run record of the study comes from a commit that already held it (git ancestry), so a
record trained before the plan existed, or from an uncommitted tree, is caught.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from weightswitch.errors import UsageError, yaml_error_text
from weightswitch.run_files import METRICS, read_record

ANALYSIS_FILE = Path("conf") / "analysis.yaml"
MAX_PRIMARY = 6


@dataclass(frozen=True)
class Analysis:
    """conf/analysis.yaml, checked: at most MAX_PRIMARY primary comparisons, unique ids."""

    study: dict[str, Any]
    tests: dict[str, Any]
    failure: dict[str, Any]
    primary: list[dict[str, Any]]
    deviations: list[Any]

    @property
    def report_folder(self) -> Path:
        return Path("reports") / str(self.study["grid"]) / str(self.study["profile"])


def load_analysis(path: Path) -> Analysis:
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise UsageError(f"analysis file {path}: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        raise UsageError(f"analysis file {path}: {yaml_error_text(exc)}") from None
    keys = ("study", "tests", "failure", "primary", "deviations")
    missing = [k for k in keys if not isinstance(data, dict) or k not in data]
    if missing:
        raise UsageError(
            f"analysis file {path}: missing {', '.join(missing)}; it needs {', '.join(keys)}"
        )
    primary = data["primary"]
    ids = [entry.get("id") for entry in primary]
    if not 1 <= len(primary) <= MAX_PRIMARY or len(set(ids)) != len(ids):
        raise UsageError(
            f"analysis file {path}: 1 to {MAX_PRIMARY} primary comparisons with "
            f"unique ids, got {ids}"
        )
    return Analysis(**{k: data[k] for k in keys})


def _git(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=60)


def preregistering_commit(root: Path, path: Path = ANALYSIS_FILE) -> str | None:
    """The commit that first added the analysis file (None: not committed)."""
    out = _git(root, "log", "--diff-filter=A", "--format=%H", "--", str(path)).stdout.split()
    return out[-1] if out else None


def record_commits(records: Path) -> dict[str, str]:
    """run record folder -> the commit its metrics.json names."""
    commits = {}
    for metrics in sorted(records.rglob(METRICS)):
        commit = read_record(metrics.parent).get("git_commit")
        commits[str(metrics.parent.relative_to(records))] = str(commit)
    return commits


def descends_from_preregistration(root: Path, records: Path) -> dict[str, str]:
    """Records whose commit is not a clean descendant of the pre-registering commit:
    {record: why}. Empty when every record descends from it."""
    prereg = preregistering_commit(root)
    if prereg is None:
        return {"*": f"{ANALYSIS_FILE} is not committed"}
    bad = {}
    for run, commit in record_commits(records).items():
        if commit.endswith("-dirty") or commit in ("None", "unavailable"):
            bad[run] = f"trained from {commit!r}, not a clean commit"
        elif _git(root, "merge-base", "--is-ancestor", prereg, commit).returncode != 0:
            bad[run] = f"commit {commit[:12]} does not descend from {prereg[:12]}"
    return bad
