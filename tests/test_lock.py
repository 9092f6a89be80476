"""The committed locks are true: each committed report keeps the DVC lock that produced it
(reports/<grid>/<profile>/dvc.lock), and DVC's own `dvc status` of that lock, against the
pipeline and params.yaml composed for the pair, reports no changed command, param or code
dependency (only outputs a clone does not hold). The workspace's dvc.lock is the lock of the
committed default pair, and switching the workspace installs the pair's lock
(docs/architecture.md, "One lock per report")."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from weightswitch.lock_cli import check, problems
from weightswitch.pairlock import LOCK, committed_pairs, pair_lock, switch
from weightswitch.params_cli import compose_params, workspace_choice

PROJECT = Path(__file__).resolve().parents[1]


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


def test_the_committed_reports_hold_their_locks() -> None:
    pairs = committed_pairs(PROJECT)
    assert ("fashion", "quick") in pairs, pairs


@pytest.mark.parametrize("pair", committed_pairs(PROJECT), ids="-".join)
def test_every_committed_lock_matches_the_pipeline(pair: tuple[str, str]) -> None:
    found = check(PROJECT, pair)
    assert not found, (
        f"reports/{pair[0]}/{pair[1]}/dvc.lock is stale ({len(found)} problems, e.g. "
        f"{found[:3]}): regenerate the pair with `make repro GRID={pair[0]} PROFILE={pair[1]}` "
        "from a clean worktree and commit its lock and report"
    )


def test_a_stale_lock_is_caught(tmp_path: Path) -> None:
    """The check can fail: a lock whose report stage recorded another REPORT version and a
    lock whose report output no longer matches the committed report file."""
    project = tmp_path / "p"
    for name in ("dvc.yaml", "src/weightswitch/numerics.py"):
        (project / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(PROJECT / name, project / name)
    shutil.copytree(PROJECT / "conf", project / "conf")
    shutil.copytree(PROJECT / "reports" / "fashion" / "quick", project / "reports/fashion/quick")
    lock = project / "reports/fashion/quick/dvc.lock"
    data = yaml.safe_load(lock.read_text())
    data["stages"]["report"]["params"]["src/weightswitch/numerics.py"]["REPORT"] = -1
    lock.write_text(yaml.safe_dump(data, sort_keys=False))
    (project / "reports/fashion/quick/README.md").write_text("edited by hand\n")
    found = check(project, ("fashion", "quick"))
    assert any("REPORT" in f for f in found) and any("README.md modified" in f for f in found)


def _head(path: str) -> bytes:
    return subprocess.run(
        ["git", "show", f"HEAD:{path}"], cwd=PROJECT, capture_output=True, check=True
    ).stdout


def test_the_workspace_lock_is_the_default_pairs() -> None:
    """As committed, dvc.lock is the lock of the committed default pair (a fresh clone's
    `dvc status` speaks of that pair); checked on HEAD, so a run in progress does not count."""
    if not (PROJECT / ".git").exists():
        pytest.skip("not a git checkout: nothing is committed here")
    conf = yaml.safe_load(_head("conf/config.yaml"))
    pair = {k: v for d in conf["defaults"] if isinstance(d, dict) for k, v in d.items()}
    assert _head(LOCK) == _head(f"reports/{pair['grid']}/{pair['profile']}/{LOCK}")


def test_switching_the_workspace_installs_the_pairs_lock(tmp_path: Path) -> None:
    quick, smoke = ("fashion", "quick"), ("mini", "smoke")
    committed = pair_lock(tmp_path, quick)
    committed.parent.mkdir(parents=True)
    committed.write_text("quick's committed lock\n")
    lock = tmp_path / LOCK
    lock.write_text(committed.read_text())
    assert "no lock of mini x smoke yet" in switch(tmp_path, quick, smoke)
    assert not lock.exists()  # DVC starts the new pair's lock
    lock.write_text("smoke in progress\n")
    note = switch(tmp_path, smoke, quick)
    assert "mini x smoke lock waits" in note and lock.read_text() == "quick's committed lock\n"
    switch(tmp_path, quick, smoke)  # back: the work in progress returns
    assert lock.read_text() == "smoke in progress\n"
    assert switch(tmp_path, smoke, smoke) == ""


def test_params_yaml_is_what_conf_composes(tmp_path: Path) -> None:
    """conf/ is the source of params.yaml: an edit to conf/ without recomposing (and so
    without regenerating the lock) would leave `dvc status` blind to it."""
    compose_params(PROJECT / "conf", tmp_path / "params.yaml", None, None, [])
    composed = yaml.safe_load((tmp_path / "params.yaml").read_text())
    choice = workspace_choice(PROJECT / "conf")
    assert composed["grid"] == choice["grid"] and composed["profile"] == choice["profile"]
    assert composed == yaml.safe_load((PROJECT / "params.yaml").read_text()), (
        "params.yaml differs from what conf/ composes: run `weightswitch params`, then "
        "regenerate the lock"
    )
