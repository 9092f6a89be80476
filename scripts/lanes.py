"""Run a DVC pipeline's stage commands in N one-thread lanes, each stage once its inputs exist.

Why: `dvc repro` runs one stage at a time and holds the repository lock for the whole run, so
on a 2-core machine a 2.5-hour switcher stage would leave a core idle. This runs the very
command lines of `dvc.yaml` (resolved by DVC from params.yaml), in the order of the `--order`
globs, each stage as soon as every dependency that another stage writes is complete
(metrics.json or diverged.json in it). A stage whose output is complete is skipped, and
`weightswitch train` resumes an interrupted run from its last epoch checkpoint, so a killed
lane set is restarted with the same command. Afterwards `dvc commit` records the outputs in
dvc.lock (nothing is retrained) and `dvc repro` builds the report.

    OMP_NUM_THREADS=1 python scripts/lanes.py --lanes 2 \\
        --order "fetch@*" "train@*-dense-*" "ablate@*" "frontier@*" "train@*-switcher-*" ...

Progress: one line per stage start and end (with its duration) on stdout; each stage's own
output goes to results/lanes/<stage>.log.
"""

from __future__ import annotations

import argparse
import fnmatch
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

DONE_FILES = ("metrics.json", "diverged.json")


@dataclass
class Stage:
    name: str
    cmd: str
    deps: list[str]
    outs: list[str]


def load_stages(root: Path) -> list[Stage]:
    from dvc.dependency.param import ParamsDependency
    from dvc.repo import Repo

    repo = Repo(str(root))
    stages = []
    for s in repo.index.stages:
        if not getattr(s, "cmd", None):
            continue
        deps = [d.def_path for d in s.deps if not isinstance(d, ParamsDependency)]
        stages.append(Stage(s.addressing, str(s.cmd), deps, [o.def_path for o in s.outs]))
    return stages


def complete(path: Path, is_run: bool) -> bool:
    if not path.exists():
        return False
    return not is_run or any((path / f).exists() for f in DONE_FILES)


class Scheduler:
    def __init__(self, root: Path, stages: list[Stage], logs: Path) -> None:
        self.root, self.stages, self.logs = root, stages, logs
        self.written = {out: s.name for s in stages for out in s.outs}
        self.claimed: set[str] = set()
        self.failed: set[str] = set()
        self.lock = threading.Lock()
        self.total, self.finished = len(stages), 0

    def _done(self, stage: Stage) -> bool:
        is_run = not stage.name.startswith(("fetch@", "report"))
        return all(complete(self.root / o, is_run) for o in stage.outs)

    def _ready(self, stage: Stage) -> bool:
        for dep in stage.deps:
            writer = self.written.get(dep)
            if writer is None:
                continue
            if writer in self.failed:
                return False
            if not complete(self.root / dep, not writer.startswith("fetch@")):
                return False
        return True

    def next(self) -> Stage | None:
        """The first stage in order that is neither done, taken nor blocked; None when no
        stage is left that could still become ready."""
        while True:
            with self.lock:
                waiting = False
                for stage in self.stages:
                    if stage.name in self.claimed or stage.name in self.failed:
                        continue
                    if self._done(stage):
                        self.claimed.add(stage.name)
                        self.finished += 1
                        continue
                    if self._ready(stage):
                        self.claimed.add(stage.name)
                        return stage
                    waiting = True
                if not waiting:
                    return None
            time.sleep(20)

    def run(self, lane: int) -> None:
        while (stage := self.next()) is not None:
            start = time.time()
            print(f"[lane {lane}] start {stage.name}", flush=True)
            log = self.logs / f"{stage.name.replace('/', '_')}.log"
            with open(log, "a") as fh:
                code = subprocess.call(
                    stage.cmd, shell=True, cwd=self.root, stdout=fh, stderr=subprocess.STDOUT
                )
            with self.lock:
                self.finished += 1
                if code != 0:
                    self.failed.add(stage.name)
                left = self.total - self.finished
            status = "done" if code == 0 else f"FAILED (exit {code}, log {log})"
            print(
                f"[lane {lane}] {status} {stage.name} in {(time.time() - start) / 60:.1f} min; "
                f"{left} of {self.total} stages left",
                flush=True,
            )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path.cwd(), help="the DVC project")
    parser.add_argument("--lanes", type=int, default=2)
    parser.add_argument(
        "--order",
        nargs="+",
        default=["*"],
        help="stage-name globs, highest priority first; unmatched stages are not run",
    )
    args = parser.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    by_name = {s.name: s for s in load_stages(args.root) if s.name != "report"}
    ordered: list[Stage] = []
    for pattern in args.order:
        for name, stage in by_name.items():
            if fnmatch.fnmatchcase(name, pattern) and stage not in ordered:
                ordered.append(stage)
    if not ordered:
        print(f"lanes: no stage matches {' '.join(args.order)}", file=sys.stderr)
        return 2
    logs = args.root / "results" / "lanes"
    logs.mkdir(parents=True, exist_ok=True)
    sched = Scheduler(args.root, ordered, logs)
    print(f"lanes: {len(ordered)} stages in {args.lanes} lanes", flush=True)
    threads = [threading.Thread(target=sched.run, args=(i,)) for i in range(args.lanes)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(f"lanes: finished; failed: {', '.join(sorted(sched.failed)) or 'none'}", flush=True)
    return 1 if sched.failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
