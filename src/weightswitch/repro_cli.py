"""`weightswitch repro`: `dvc repro` with an overall counter and an ETA (`make repro`, `make
smoke`).

DVC prints `Running stage 'NAME':` when it starts a stage, but neither how many stages this
repro runs nor when it will end. Before starting, this plans the repro on DVC's own graph as
`dvc repro` decides it (a stage runs when it changed or a stage it depends on runs), then
passes DVC's output through unchanged and, at every stage start, adds one line:
`weightswitch repro: stage k of n: NAME (m done this repro), ETA ~X`. The ETA sums, over the
stages still to run, the mean measured duration (wall clock, start line to next stage) of the
finished stages of the same method (the stage name without its seed), else of the same kind
(`train`, `prune`, ...), else of all: it is known once one stage has finished, and gets
better as each method has run once. Stage commands' stderr (the epoch bar) is left alone.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from weightswitch.errors import UsageError

START = re.compile(r"^Running stage '(?P<name>[^']+)':")
SKIPPED = re.compile(r"^Stage '(?P<name>[^']+)' (?:is cached|didn't change)")
PREFIX = "weightswitch repro:"


def planned_stages(root: Path) -> list[str]:
    """The stages a plain `dvc repro` in `root` will run, dependencies first."""
    import networkx as nx
    from dvc.exceptions import DvcException
    from dvc.repo import Repo

    try:
        with Repo(str(root)) as repo:
            changed = set(repo.status())  # what `dvc status` lists
            graph = repo.index.graph
            runs: set[object] = set()
            order = list(reversed(list(nx.topological_sort(graph))))  # edges: stage -> its deps
            for stage in order:
                if not getattr(stage, "cmd", None) or getattr(stage, "frozen", False):
                    continue
                upstream = any(dep in runs for dep in graph.successors(stage))
                if upstream or str(stage.addressing) in changed:
                    runs.add(stage)
            return [str(stage.addressing) for stage in order if stage in runs]
    except DvcException as exc:
        raise UsageError(f"cannot read the pipeline in {root}: {exc}") from None


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.1f} min" if seconds < 5400 else f"{seconds / 3600:.1f} h"


def _keys(name: str) -> tuple[str, str]:
    """(method, kind) of a stage: `train@model0-dense-0` -> (`train@model0-dense`, `train`)."""
    return re.sub(r"-\d+$", "", name), name.split("@")[0]


class Counter:
    """Stage k of n and the ETA, from the stage lines of DVC's output."""

    def __init__(self, planned: list[str] | None, clock: Callable[[], float]) -> None:
        self.planned = planned
        self.clock = clock
        self.done: list[tuple[str, float]] = []  # (stage, seconds) finished this repro
        self.skipped: set[str] = set()
        self.current: tuple[str, float] | None = None

    def _finish_current(self) -> None:
        if self.current is not None:
            name, start = self.current
            self.done.append((name, self.clock() - start))
            self.current = None

    def _estimate(self, name: str) -> float | None:
        method, kind = _keys(name)
        for match in (
            lambda n: _keys(n)[0] == method,
            lambda n: _keys(n)[1] == kind,
            lambda n: True,
        ):
            seconds = [s for n, s in self.done if match(n)]
            if seconds:
                return sum(seconds) / len(seconds)
        return None

    def line(self, name: str) -> str:
        k = len(self.done) + 1
        n = None if self.planned is None else max(len(self.planned) - len(self.skipped), k)
        where = f"stage {k} of {n}" if n is not None else f"stage {k}"
        head = f"{PREFIX} {where}: {name} ({len(self.done)} done this repro)"
        if self.planned is None:
            return head
        if not self.done:
            return f"{head}, ETA after the first finished stage"
        finished = {s for s, _ in self.done} | self.skipped
        left = [s for s in self.planned if s not in finished]
        return f"{head}, ETA ~{_duration(sum(self._estimate(s) or 0.0 for s in left))}"

    def see(self, text: str) -> str | None:
        """The counter line to print after DVC's line `text` (None: none)."""
        if started := START.match(text):
            self._finish_current()
            name = started["name"]
            out = self.line(name)
            self.current = (name, self.clock())
            return out
        if skipped := SKIPPED.match(text):
            self._finish_current()
            self.skipped.add(skipped["name"])
        return None

    def summary(self) -> str:
        self._finish_current()
        total = sum(s for _, s in self.done)
        return f"{PREFIX} {len(self.done)} stage(s) run in {_duration(total)}"


def relay(lines: Iterable[str], counter: Counter, write: Callable[[str], object]) -> None:
    """Pass DVC's output through, each stage start followed by its counter line."""
    for text in lines:
        write(text)
        extra = counter.see(text)
        if extra is not None:
            write(extra + "\n")


def run(args: argparse.Namespace) -> int:
    root = Path.cwd()
    if not (root / "dvc.yaml").is_file():
        raise UsageError(f"no dvc.yaml in {root}: run it in the project root")
    extra = list(getattr(args, "unknown", []) or [])
    planned = None if extra else planned_stages(root)  # targets or flags: counted, not planned
    counter = Counter(planned, time.monotonic)
    if planned is not None:
        print(f"{PREFIX} {len(planned)} stage(s) to run", flush=True)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}  # stage output as it comes, not in blocks
    with subprocess.Popen(
        ["dvc", "repro", *extra], stdout=subprocess.PIPE, text=True, bufsize=1, env=env
    ) as proc:
        assert proc.stdout is not None

        def write(text: str) -> None:
            sys.stdout.write(text)
            sys.stdout.flush()

        try:
            relay(proc.stdout, counter, write)
        except KeyboardInterrupt:  # the stage got the same Ctrl-C: let DVC end it
            proc.wait()
            raise
        code = proc.wait()
    print(counter.summary(), flush=True)
    return code


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "repro",
        help="dvc repro, with stage k of n and an ETA (make repro, make smoke)",
        description=(__doc__ or "").split("\n\n")[0].split(": ", 1)[-1],
    )
    p.set_defaults(func=run, pass_unknown=True)
    return p
