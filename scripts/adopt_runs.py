"""Adopt finished runs into this workspace's DVC lock, only where this commit's code would
have produced exactly those runs.

Why: a long study trains for days in a worktree at its starting commit (scripts/lanes.py),
while main moves on. Its outputs enter DVC here, at a later clean commit, without retraining:
for every training stage of the pipeline (resolved by DVC from params.yaml), the stage's own
`weightswitch train` command line is resolved in this process and the run's identity
(settings + prepared data + parents + numerics version, `rundir.identity`) is compared with the
identity its metrics.json (or diverged.json) recorded. Only if every stage's run matches does
`--commit` record the outputs (`dvc commit`); the report stage is then run by `dvc repro`
and the pair's lock is saved (`weightswitch lock save`).

    weightswitch params --grid mnist --profile long        # in a clean worktree of main
    cp -a SOURCE/results SOURCE/data .                     # the finished study's outputs
    python scripts/adopt_runs.py                           # check only: what matches, what not
    python scripts/adopt_runs.py --commit                  # then dvc commit + repro + lock save
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
from pathlib import Path

TRAIN = ("weightswitch", "train")


def training_stages(root: Path) -> list[tuple[str, list[str]]]:
    """(stage name, argv after `weightswitch`) of every stage that runs `weightswitch train`."""
    from dvc.repo import Repo

    out = []
    for stage in Repo(str(root)).index.stages:
        argv = shlex.split(str(getattr(stage, "cmd", "") or ""))
        if tuple(argv[:2]) == TRAIN:
            out.append((stage.addressing, argv[1:]))
    return out


def stage_names(root: Path) -> list[str]:
    from dvc.repo import Repo

    return [stage.addressing for stage in Repo(str(root)).index.stages]


def verdict(argv: list[str], parser: argparse.ArgumentParser) -> str:
    """`match`, `diverged (match)`, or why the run here is not the run the command asks for."""
    from weightswitch.config import resolve
    from weightswitch.errors import WeightswitchError
    from weightswitch.run_files import DIVERGED
    from weightswitch.rundir.identity import Identity, identity_of
    from weightswitch.rundir.resume import RunDir

    args = parser.parse_args(argv)
    try:
        cfg, _ = resolve(args)
        identity = identity_of(cfg)
        run = RunDir(Path(cfg.out or "."), None)
        if run.completed(identity) is not None:
            return "match"
    except WeightswitchError as exc:
        return f"not adoptable: {exc}"
    diverged = Path(cfg.out or ".") / DIVERGED
    if diverged.exists():
        recorded = Identity.from_dict(json.loads(diverged.read_text()).get("identity"))
        same = recorded is not None and recorded.digest == identity.digest
        return "diverged (match)" if same else "diverged, other identity"
    return "unfinished"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--commit", action="store_true", help="dvc commit, repro, lock save")
    args = ap.parse_args(argv)
    from weightswitch.cli import _build

    parser, _ = _build()
    root = Path.cwd()
    stages = training_stages(root)
    bad = []
    for i, (name, stage_argv) in enumerate(stages, 1):
        result = verdict(stage_argv, parser)
        if not result.endswith("match)") and result != "match":
            bad.append(f"{name}: {result}")
        if i % 25 == 0 or i == len(stages):
            print(
                f"checked {i} of {len(stages)} training stages; {len(bad)} not adoptable",
                flush=True,
            )
    for line in bad:
        print(line)
    if bad or not args.commit:
        return 1 if bad else 0
    outputs = [name for name, _ in stages] + [
        n for n in stage_names(root) if n.startswith("fetch@")
    ]
    for cmd in (
        ["dvc", "commit", "--force", *outputs],
        ["dvc", "repro"],
        ["weightswitch", "lock", "save"],
    ):
        print("$", " ".join(cmd), flush=True)
        subprocess.run(cmd, check=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
