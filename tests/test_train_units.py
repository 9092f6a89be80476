"""Units of the training engine: schedules, atomic writes, RNG state, gate storage."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from weightswitch import atomic, checkpoint
from weightswitch.config import OptimizerConfig, ScheduleConfig
from weightswitch.methods.optim import LRSchedule, build_optimizer, clip_gradients
from weightswitch.methods.switcher import to_half
from weightswitch.run_files import history_csv
from weightswitch.train.loop import EXPLODED_LOSS, _exploded
from weightswitch.train.progress import epoch_line


def test_multistep_and_cosine_are_functions_of_the_global_epoch() -> None:
    multi = LRSchedule(ScheduleConfig("multistep", milestones=[2, 4], gamma=0.1), 1.0, 6)
    assert [round(multi.lr(e), 6) for e in range(6)] == [1, 1, 0.1, 0.1, 0.01, 0.01]
    cosine = LRSchedule(ScheduleConfig("cosine", min_lr=0.0), 1.0, 4)
    assert cosine.lr(0) == 1.0 and math.isclose(cosine.lr(2), 0.5) and cosine.lr(4) < 1e-12
    assert LRSchedule(ScheduleConfig("constant"), 0.3, 9).lr(8) == 0.3


def test_plateau_matches_torch_reduce_on_plateau() -> None:
    losses = [1.0, 0.9, 0.95, 0.95, 0.95, 0.8, 0.85, 0.85, 0.85, 0.85]
    ours = LRSchedule(ScheduleConfig("plateau", factor=0.5, patience=1, min_lr=0.01), 0.1, 10)
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    ref = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, factor=0.5, patience=1, min_lr=0.01)
    for epoch, loss in enumerate(losses):
        assert math.isclose(ours.lr(epoch), opt.param_groups[0]["lr"])
        ours.observe(loss)
        ref.step(loss)
    state = ours.state_dict()
    again = LRSchedule(ours.cfg, 0.1, 10)
    again.load_state_dict(state)
    assert again.lr(10) == ours.lr(10) < 0.1


def test_stop_lr() -> None:
    sched = LRSchedule(ScheduleConfig("multistep", milestones=[3], stop_lr=0.05), 0.1, 10)
    assert not sched.should_stop(2) and sched.should_stop(3)


def test_atomic_write_keeps_the_old_file_on_failure(tmp_path: Path) -> None:
    path = tmp_path / "checkpoint.pt"
    checkpoint.save(path, {"epoch": 1})

    def explode(f: object) -> None:
        raise RuntimeError("killed mid-write")

    with pytest.raises(RuntimeError):
        atomic.write_bytes(path, explode)
    assert checkpoint.load(path) == {"epoch": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint.pt"]  # no temp left behind


def test_rng_state_round_trip() -> None:
    checkpoint.seed_everything(3)
    state = checkpoint.rng_state()
    a = torch.rand(3)
    checkpoint.set_rng_state(state)
    assert torch.equal(torch.rand(3), a)


def test_half_gates_keep_zero_pattern() -> None:
    gates = torch.tensor([0.0, 1e-9, 0.5, 3.0])
    half = to_half(gates)
    assert half.dtype == torch.float16
    assert torch.equal(half == 0, gates == 0)


def test_history_and_progress_line_format() -> None:
    row = {
        "epoch": 1,
        "phase": "tnn",
        "lr": 0.1,
        "train_loss": 0.5,
        "train_accuracy": 0.9,
        "val_accuracy": 0.8,
        "fc_sparsity": 0.25,
        "seconds": 1.5,
    }
    text = history_csv([row])
    assert text.splitlines()[0] == (
        "epoch,phase,lr,train_loss,train_accuracy,val_accuracy,fc_sparsity,seconds"
    )
    line = epoch_line(row, 4)
    assert line.startswith("epoch 1/4 tnn") and "val 0.8000" in line and "\n" not in line


def test_progress_bar_mode(capsys: pytest.CaptureFixture[str]) -> None:
    from types import SimpleNamespace

    from weightswitch.train.progress import Progress

    progress = Progress(batches_per_epoch=3, bar=True)
    assert progress.per_step
    state = SimpleNamespace(total_epochs=2, phase="tnn")
    progress.on_epoch_start(state, 0)
    for _ in range(3):
        progress.on_step_start(state)
    row = {
        "epoch": 1,
        "phase": "tnn",
        "lr": 0.1,
        "train_loss": 0.5,
        "train_accuracy": 0.9,
        "val_accuracy": 0.8,
        "fc_sparsity": 0.25,
        "seconds": 1.5,
    }
    progress.on_epoch_end(state, row)
    captured = capsys.readouterr()
    assert captured.out.startswith("epoch 1/2 tnn")
    assert "epoch 1/2 tnn" in captured.err  # the bar's description


@pytest.mark.parametrize("clip", [None, 0.5])
def test_clip_gradients_bounds_the_norm_of_its_own_parameters(clip: float | None) -> None:
    w, other = torch.nn.Parameter(torch.zeros(3)), torch.nn.Parameter(torch.zeros(3))
    opt = build_optimizer([w], OptimizerConfig(grad_clip=clip))
    w.grad, other.grad = torch.full((3,), 10.0), torch.full((3,), 10.0)
    clip_gradients(opt)
    expected = 10.0 * math.sqrt(3) if clip is None else clip
    assert w.grad.norm().item() == pytest.approx(expected, rel=1e-5)
    assert other.grad.norm().item() == pytest.approx(10.0 * math.sqrt(3))  # not its param
    assert opt.state_dict()["param_groups"][0]["grad_clip"] == clip  # saved with checkpoints


def test_finite_but_huge_loss_counts_as_diverged() -> None:
    assert not _exploded(2.3)
    assert _exploded(EXPLODED_LOSS * 10) and _exploded(float("inf")) and _exploded(float("nan"))
