"""Progress output: a tqdm bar per epoch on a terminal, and always one plain line per epoch
(the only output in CI / DVC logs, where a bar would be noise). Without a terminal, a long
epoch also prints a short line at most every `interval` seconds, so a log never goes silent
for minutes; `grid_line` says where a run stands in its grid (run k of N, ETA)."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any, TextIO

from weightswitch.methods.state import Callback, TrainState
from weightswitch.run_files import read_record

INTERVAL_S = 30.0  # longest silence inside an epoch when output is not a terminal


def epoch_line(row: dict[str, Any], total: int) -> str:
    return (
        f"epoch {row['epoch']}/{total} {row['phase']:<8} lr {row['lr']:.3g} "
        f"loss {row['train_loss']:.4f} acc {row['train_accuracy']:.4f} "
        f"val {row['val_accuracy']:.4f} sparsity {row['fc_sparsity']:.4f} "
        f"{row['seconds']:.1f}s"
    )


def _duration(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


class Progress(Callback):
    # every step: the bar advances, or the clock is checked (one monotonic() call, ~0.1 us)
    per_step = True

    def __init__(
        self,
        batches_per_epoch: int,
        stream: TextIO | None = None,
        bar: bool | None = None,
        interval: float = INTERVAL_S,
    ) -> None:
        self.stream = stream or sys.stdout
        self.batches = batches_per_epoch
        self.bar_enabled = sys.stderr.isatty() if bar is None else bar
        self.interval = interval
        self._bar: Any = None
        self._done = 0
        self._start = self._last = 0.0
        self._label = ""

    def on_epoch_start(self, state: TrainState, epoch: int) -> None:
        self._done = 0
        self._start = self._last = time.monotonic()
        self._label = f"epoch {epoch + 1}/{state.total_epochs} {state.phase}"
        if self.bar_enabled:
            from tqdm import tqdm

            self._bar = tqdm(
                total=self.batches, desc=self._label, leave=False, unit="batch", file=sys.stderr
            )

    def on_step_start(self, state: TrainState) -> None:
        if self._bar is not None:
            self._bar.update(1)
            return
        self._done += 1
        now = time.monotonic()
        if now - self._last >= self.interval:
            self._last = now
            print(self.step_line(now - self._start), file=self.stream, flush=True)

    def step_line(self, elapsed: float) -> str:
        """`epoch 2/4 snn: batch 150/188 (80%), 31 s in, ~8 s left in this epoch`."""
        left = elapsed * (self.batches - self._done) / max(self._done, 1)
        return (
            f"  {self._label}: batch {self._done}/{self.batches} "
            f"({100 * self._done / max(self.batches, 1):.0f}%), {_duration(elapsed)} in, "
            f"~{_duration(left)} left in this epoch"
        )

    def on_epoch_end(self, state: TrainState, row: dict[str, Any]) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        print(epoch_line(row, state.total_epochs), file=self.stream, flush=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


# ------------------------------------------------------------------------- grid progress


def grid_runs(params: dict[str, Any], frontier: bool = False) -> list[tuple[str, str]]:
    """(method, run directory name) of every run a params grid holds (models x methods x
    seeds), or [] when the params are not a grid. `frontier`: the frontier stage's runs
    instead (models x frontier methods x sparsity points x seeds, as dvc.yaml names them)."""
    models, seeds = params.get("models"), params.get("seeds")
    methods: Any = params.get("methods")
    points: list[str] = [""]
    if frontier:
        spec = params.get("frontier")
        if not isinstance(spec, dict):
            return []
        methods, points = spec.get("methods"), [f"-{p}" for p in spec.get("sparsity") or []]
    if not isinstance(models, list) or not isinstance(seeds, list) or not methods or not points:
        return []
    return [
        (str(method), f"{m['dataset']}-{m['arch']}-{method}{point}-s{seed}")
        for m in models
        if isinstance(m, dict) and {"dataset", "arch"} <= set(m)
        for method in methods
        for point in points
        for seed in seeds
    ]


def grid_line(params: dict[str, Any] | None, cfg: Any) -> str | None:
    """Where this run stands in its grid: run k of N, training time so far, ETA.

    Read from the finished runs beside this one (their metrics.json), so it needs no state
    of its own and stays right across interrupted and resumed pipelines. A run pruned to a
    fixed sparsity (no `--match`) is a point of the frontier stage, counted among those."""
    prune = getattr(cfg, "prune", None)
    frontier = prune is not None and prune.sparsity is not None and prune.match is None
    runs = grid_runs(params or {}, frontier)
    if not runs or cfg.out is None:
        return None
    base = Path(cfg.out).parent
    seconds: dict[str, list[float]] = {}
    left: list[str] = []
    for method, name in runs:
        try:
            data = read_record(base / name, require=("wall_seconds",))
            seconds.setdefault(method, []).append(float(data["wall_seconds"]))
        except (OSError, ValueError, TypeError):  # unfinished (or unreadable): still to run
            left.append(method)
    done = len(runs) - len(left)
    spent = sum(sum(v) for v in seconds.values())
    this = f"{cfg.method} {cfg.arch} {cfg.dataset} s{cfg.seed}"
    # a run the grid does not hold (an extra seed, a hand-made run) is not "run k of N"
    where = (
        f"run {min(done + 1, len(runs))} of {len(runs)} ({this})"
        if any(name == Path(cfg.out).name for _, name in runs)
        else f"{this} is outside its {len(runs)} runs"
    )
    head = (
        f"grid {params.get('grid', '?')} x {params.get('profile', '?')}"  # type: ignore[union-attr]
        f"{' frontier' if frontier else ''}: "
        f"{where}; {done} finished, {_duration(spent)} of training so far"
    )
    if not left:
        return head
    if not seconds:
        return head + "; ETA after the first finished run of each method"
    # only methods with a finished run are estimated: a switcher run takes ~100x a pruning
    # run, so one method's mean says nothing about another's (the rest is counted, not timed)
    timed = [m for m in left if m in seconds]
    untimed = list(dict.fromkeys(m for m in left if m not in seconds))
    tail = f"{len(left) - len(timed)} left of methods not yet timed ({', '.join(untimed)})"
    if not timed:
        return f"{head}; ETA unknown: {tail}"
    eta = sum(sum(seconds[m]) / len(seconds[m]) for m in timed)
    line = f"{head}; ETA ~{_duration(eta)} for {len(timed)} of {len(left)} left"
    line += " (mean per method so far)"
    return f"{line}, and {tail}" if untimed else line
