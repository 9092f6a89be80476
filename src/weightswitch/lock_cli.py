"""`weightswitch lock`: one DVC lock per grid x profile, kept beside the pair's report.

Why: one `dvc.yaml` serves every grid x profile (its stages are generated from params.yaml),
and DVC reads one `dvc.lock`: the record of the workspace's pair. Each committed report keeps
the lock that produced it, `reports/<grid>/<profile>/dvc.lock`; switching the workspace
(`weightswitch params --grid G --profile P`) installs the incoming pair's lock, so `dvc status`
and `dvc repro` see what was done for that pair. A workspace lock that no commit holds yet is
kept aside under `.dvc/tmp/pair-locks/` and comes back when the workspace returns to its pair.
`lock check` asks DVC itself, for every committed pair, whether its lock still matches the
pipeline: docs/architecture.md, "One lock per report".

    weightswitch lock save      # after `dvc repro`: the workspace lock beside its report
    weightswitch lock check     # every committed pair: no changed command, param or code
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from weightswitch.errors import UsageError, WeightswitchError
from weightswitch.options import add_options, option, read_options
from weightswitch.pairlock import LOCK, Pair, committed_pairs, pair_lock, save

MISSING = {"deleted", "not in cache"}  # outputs a clone does not hold: not a stale lock
# What a stage's params and command read, besides params.yaml: copied into the scratch
# repository in which `lock check` asks DVC for the status of one pair.
PIPELINE_FILES = ("dvc.yaml", "src/weightswitch/numerics.py")


@dataclass(frozen=True)
class LockOptions:
    """`lock`'s options."""

    action: str = option(
        "save: the workspace lock beside its report; check: `dvc status` of every "
        "committed pair lock",
        positional=True,
        choices=("save", "check"),
    )
    project: str = option("the project root (default: .)", default=".")


def problems(status: dict, locked: set[str], stages: list[str]) -> list[str]:
    """What in `dvc status --json` is more than outputs a clone does not hold."""
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


def _dvc(repo: Path, *args: str) -> str:
    proc = subprocess.run(
        [sys.executable, "-m", "dvc", *args], cwd=repo, capture_output=True, text=True
    )
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["no message"])[-1]
        raise WeightswitchError(f"dvc {' '.join(args)} failed in {repo}: {last}")
    return proc.stdout


def check(project: Path, pair: Pair) -> list[str]:
    """Problems of one committed pair lock, by DVC's own `dvc status` in a scratch repository
    holding the pipeline, params.yaml composed for the pair, the pair's lock and its report."""
    from weightswitch.config import compose_params

    grid, profile = pair
    with tempfile.TemporaryDirectory(prefix=f"weightswitch-lock-{grid}-{profile}-") as tmp:
        repo = Path(tmp)
        for name in PIPELINE_FILES:
            (repo / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(project / name, repo / name)
        compose_params(project / "conf", repo / "params.yaml", grid, profile, [])
        shutil.copytree(project / "reports" / grid / profile, repo / "reports" / grid / profile)
        shutil.copyfile(pair_lock(project, pair), repo / LOCK)
        _dvc(repo, "init", "--no-scm", "-q")
        stages = _dvc(repo, "stage", "list", "--name-only").split()
        locked = set((_load_yaml(repo / LOCK) or {}).get("stages", {}))
        return problems(json.loads(_dvc(repo, "status", "--json") or "{}"), locked, stages)


def _load_yaml(path: Path) -> dict:
    import yaml

    return yaml.safe_load(path.read_text(encoding="utf-8"))


def run(args: argparse.Namespace) -> int:
    from weightswitch.params_cli import workspace_choice

    options = read_options(args, LockOptions)
    project = Path(options.project).resolve()
    if options.action == "save":
        choice = workspace_choice(project / "conf")
        target = save(project, (choice["grid"], choice["profile"]))
        print(f"wrote {target.relative_to(project)} (commit it with the report)")
        return 0
    pairs = committed_pairs(project)
    if not pairs:
        raise UsageError(f"no reports/<grid>/<profile>/{LOCK} in {project}")
    bad = 0
    for pair in pairs:
        found = check(project, pair)
        bad += bool(found)
        verdict = "ok" if not found else f"{len(found)} problems, e.g. {'; '.join(found[:3])}"
        print(f"{pair[0]} x {pair[1]}: {verdict}", flush=True)
    if bad:
        raise WeightswitchError(
            f"{bad} of {len(pairs)} committed locks are stale: regenerate the pair with "
            "`make repro GRID=... PROFILE=...` from a clean worktree and commit its lock and report"
        )
    return 0


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "lock",
        help="one DVC lock per grid x profile: save the workspace's, check every committed one",
        description=__doc__.split("\n\n")[1].replace("\n", " "),
    )
    add_options(p, LockOptions)
    p.set_defaults(func=run)
    return p
