"""The committed dvc.lock is true: it is the lock that produced the committed report of the
workspace's grid x profile. On a fresh clone, `dvc status` may only report outputs that are
missing (not in the workspace or cache); a changed command, a changed param (recipe, conf/,
numerics version) or a stage without a lock entry means dvc.yaml, conf/ or a numerics
version changed without regenerating the lock (and the report)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import yaml

PROJECT = Path(__file__).resolve().parents[1]
MISSING = {"deleted", "not in cache"}


def dvc(*args: str) -> str:
    proc = subprocess.run(
        [sys.executable, "-m", "dvc", *args],
        cwd=PROJECT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


def problems(status: dict, locked: set[str], stages: list[str]) -> list[str]:
    """What in `dvc status --json` is more than missing outputs."""
    found = [f"{s}: no entry in dvc.lock (never run)" for s in stages if s not in locked]
    for stage, items in status.items():
        for item in items:
            if isinstance(item, str):  # "changed command", "always changed"
                found.append(f"{stage}: {item}")
                continue
            for kind, entries in item.items():
                for path, state in entries.items():
                    if isinstance(state, dict):  # a params file: {key: modified|new|deleted}
                        found.append(f"{stage}: param {path} {state}")
                    elif state not in MISSING:
                        found.append(f"{stage}: {kind.split()[-1][:-1]} {path} {state}")
    return found


def test_problems_tells_missing_outputs_from_a_stale_lock() -> None:
    status = {
        "a": [{"changed outs": {"out": "not in cache"}}],
        "b": [{"changed deps": {"out": "deleted"}}, {"changed outs": {"b": "deleted"}}],
        "c": [{"changed deps": {"n.py": {"CORE": "modified"}}}, "changed command"],
    }
    assert problems(status, {"a", "b", "c"}, ["a", "b", "c"]) == [
        "c: param n.py {'CORE': 'modified'}",
        "c: changed command",
    ]
    assert problems({}, {"a"}, ["a", "d"]) == ["d: no entry in dvc.lock (never run)"]


def test_committed_lock_matches_the_pipeline() -> None:
    stages = dvc("stage", "list", "--name-only").split()
    locked = set(yaml.safe_load((PROJECT / "dvc.lock").read_text())["stages"])
    status = json.loads(dvc("status", "--json") or "{}")
    found = problems(status, locked, stages)
    assert not found, (
        f"dvc.lock is stale ({len(found)} problems, e.g. {found[:3]}): regenerate the "
        "workspace's report with `dvc repro` from a clean worktree and commit its dvc.lock, "
        "records and report"
    )


def test_params_yaml_is_what_conf_composes(tmp_path: Path) -> None:
    """conf/ is the source of params.yaml: an edit to conf/ without recomposing (and so
    without regenerating the lock) would leave `dvc status` blind to it."""
    from weightswitch.params_cli import compose_params

    compose_params(PROJECT / "conf", tmp_path / "params.yaml", None, None, [])
    composed = yaml.safe_load((tmp_path / "params.yaml").read_text())
    assert composed == yaml.safe_load((PROJECT / "params.yaml").read_text()), (
        "params.yaml differs from what conf/ composes: run `weightswitch params`, then "
        "regenerate the lock"
    )
