"""`make test` passes whatever pair the workspace holds: in a copy of the tracked tree
switched to another grid x profile (as `make repro GRID=... PROFILE=...` leaves it), the
tests that read the workspace (its params.yaml, conf/config.yaml and dvc.lock) pass too."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[1]
# Every test that reads the workspace's params.yaml, conf/config.yaml or dvc.lock.
WORKSPACE_TESTS = [
    "tests/test_lock.py",
    "tests/test_config.py::test_repo_params_file_resolves_for_every_method",
    "tests/test_cli_errors.py::test_train_set_takes_the_params_keys_and_null_unsets",
    "tests/test_cli_errors.py::test_train_profile_trains_that_profiles_recipe",
    "tests/test_extending.py",
]


def _tracked_copy(dest: Path) -> None:
    files = subprocess.run(
        ["git", "ls-files", "-z"], cwd=PROJECT, capture_output=True, check=True
    ).stdout.split(b"\0")
    for name in filter(None, (f.decode() for f in files)):
        source = PROJECT / name
        if source.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)


def test_the_workspace_tests_pass_on_another_pair(tmp_path: Path) -> None:
    if not (PROJECT / ".git").exists():
        pytest.skip("not a git checkout: no tracked tree to copy")
    copy = tmp_path / "workspace"
    _tracked_copy(copy)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    switched = subprocess.run(
        [
            sys.executable,
            "-m",
            "weightswitch.cli",
            "params",
            *("--grid", "mini", "--profile", "smoke"),
        ],
        cwd=copy,
        capture_output=True,
        text=True,
        env=env,
    )
    assert switched.returncode == 0, switched.stderr
    assert "mini" in (copy / "params.yaml").read_text() and not (copy / "dvc.lock").exists()
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *WORKSPACE_TESTS],
        cwd=copy,
        capture_output=True,
        text=True,
        env=env,
    )
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert " passed" in proc.stdout.splitlines()[-1]
