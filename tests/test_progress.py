"""Progress without a terminal: in-epoch lines at most every `interval` seconds, and where a
run stands in its grid (run k of N, ETA from the finished runs beside it)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import torch

from weightswitch.config import build_config
from weightswitch.methods.state import TrainState
from weightswitch.train.progress import Progress, grid_line, grid_runs


def _epoch(progress: Progress, steps: int) -> None:
    cfg = build_config("lenet300", "mnist", "dense")
    state = TrainState(
        cfg=cfg,
        model=torch.nn.Linear(1, 1),
        device=torch.device("cpu"),
        total_epochs=3,
        phase="snn",
    )
    progress.on_epoch_start(state, 1)
    for _ in range(steps):
        progress.on_step_start(state)


def test_in_epoch_lines_only_without_a_terminal_and_at_most_per_interval() -> None:
    every = io.StringIO()
    _epoch(Progress(10, stream=every, bar=False, interval=0.0), steps=4)
    lines = every.getvalue().splitlines()
    assert len(lines) == 4 and lines[-1].startswith("  epoch 2/3 snn: batch 4/10 (40%)")
    assert "left in this epoch" in lines[-1]
    quiet = io.StringIO()  # a fast epoch never reaches the 30 s default: no extra lines
    _epoch(Progress(10, stream=quiet, bar=False), steps=10)
    assert quiet.getvalue() == ""


def test_grid_line_counts_finished_runs_and_estimates_the_rest(tmp_path: Path) -> None:
    params = {
        "grid": "fashion",
        "profile": "quick",
        "models": [{"dataset": "fashion_mnist", "arch": "lenet300"}],
        "methods": {"dense": {}, "switcher": {}},
        "seeds": [0, 1],
    }
    assert len(grid_runs(params)) == 4 and grid_runs({"recipe": {}}) == []
    base = tmp_path / "runs" / "quick"
    for name, secs in (
        ("fashion_mnist-lenet300-dense-s0", 60.0),
        ("fashion_mnist-lenet300-switcher-s0", 600.0),
    ):
        (base / name).mkdir(parents=True)
        (base / name / "metrics.json").write_text(json.dumps({"wall_seconds": secs}))
    out = str(base / "fashion_mnist-lenet300-switcher-s1")
    cfg = build_config("lenet300", "fashion_mnist", "switcher", params, {"seed": 1, "out": out})
    line = grid_line(params, cfg)
    assert line is not None and line.startswith("grid fashion x quick: run 3 of 4 (switcher")
    assert "2 finished, 11.0 min of training so far" in line
    assert line.endswith("ETA ~11.0 min for 2 of 2 left (mean per method so far)")  # 1 + 10 min
    assert grid_line(None, cfg) is None
    out5 = str(base / "fashion_mnist-lenet300-switcher-s5")
    extra = build_config("lenet300", "fashion_mnist", "switcher", params, {"seed": 5, "out": out5})
    line = grid_line(params, extra)
    assert line is not None and "switcher lenet300 fashion_mnist s5 is outside its 4 runs" in line
    assert "run 3 of 4" not in line


def test_grid_line_counts_frontier_points_among_the_frontier_runs(tmp_path: Path) -> None:
    params = {
        "grid": "mnist",
        "profile": "cpu",
        "models": [{"dataset": "mnist", "arch": "lenet300"}],
        "methods": {"dense": {}, "magnitude": {}},
        "frontier": {"methods": ["magnitude", "random"], "sparsity": [0.5, 0.9]},
        "seeds": [0],
    }
    names = [name for _, name in grid_runs(params, frontier=True)]
    assert names == [
        "mnist-lenet300-magnitude-0.5-s0",
        "mnist-lenet300-magnitude-0.9-s0",
        "mnist-lenet300-random-0.5-s0",
        "mnist-lenet300-random-0.9-s0",
    ]
    base = tmp_path / "frontier" / "cpu"
    (base / names[0]).mkdir(parents=True)
    (base / names[0] / "metrics.json").write_text(json.dumps({"wall_seconds": 30.0}))
    overrides = {
        "seed": 0,
        "out": str(base / names[1]),
        "prune": {"sparsity": 0.9, "init_from": str(tmp_path / "dense")},
    }
    cfg = build_config("lenet300", "mnist", "magnitude", params, overrides)
    line = grid_line(params, cfg)
    assert line is not None and line.startswith("grid mnist x cpu frontier: run 2 of 4 (magn")
    assert "1 finished, 30 s of training so far; ETA ~30 s for 1 of 3 left" in line
    # a method with no finished run is counted, never timed from another method's runs
    assert line.endswith("and 2 left of methods not yet timed (random)")
    (base / names[0] / "metrics.json").unlink()
    line = grid_line(params, cfg)
    assert line is not None and line.endswith("ETA after the first finished run of each method")
    (base / names[3]).mkdir(parents=True)
    (base / names[3] / "metrics.json").write_text(json.dumps({"wall_seconds": 40.0}))
    (base / names[2]).mkdir(parents=True)
    (base / names[2] / "metrics.json").write_text(json.dumps({"wall_seconds": 40.0}))
    line = grid_line(params, cfg)
    assert line is not None and line.endswith(
        "ETA unknown: 2 left of methods not yet timed (magnitude)"
    )


def test_repro_counts_stages_and_estimates_from_the_finished_ones() -> None:
    """`weightswitch repro`: stage k of n after each of DVC's stage lines; the ETA from the
    measured stages (same method, else same kind, else all), known after the first."""
    from weightswitch.repro_cli import Counter, relay

    planned = ["fetch@mnist", "train@model0-dense-0", "train@model0-dense-1", "report"]
    now = iter([0.0, 10.0, 10.0, 70.0, 70.0, 75.0]).__next__  # starts and ends of stages
    dvc = [
        "Running stage 'fetch@mnist':\n",
        "> weightswitch fetch mnist\n",
        "Running stage 'train@model0-dense-0':\n",
        "Stage 'train@model0-dense-1' is cached - skipping run, checking out outputs\n",
        "Running stage 'report':\n",
    ]
    out: list[str] = []
    counter = Counter(planned, now)
    relay(dvc, counter, out.append)
    lines = [line.strip() for line in out if line.startswith("weightswitch repro:")]
    assert lines == [
        "weightswitch repro: stage 1 of 4: fetch@mnist (0 done this repro), "
        "ETA after the first finished stage",
        # left: dense-0, dense-1 (no train stage timed yet: the mean of all, 10 s), report
        "weightswitch repro: stage 2 of 4: train@model0-dense-0 (1 done this repro), ETA ~30 s",
        # dense-1 came from DVC's run cache: 3 stages run, report timed by the mean of all
        "weightswitch repro: stage 3 of 3: report (2 done this repro), ETA ~35 s",
    ]
    assert out[:3:2] == dvc[:2]  # DVC's own output passes through, in order
    assert counter.summary() == "weightswitch repro: 3 stage(s) run in 75 s"
