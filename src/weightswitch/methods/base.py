"""What every method provides to the loop: a `Callback` plus setup / resume / export hooks."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from weightswitch.config import RunConfig
from weightswitch.methods.optim import LRSchedule, build_optimizer, set_lr
from weightswitch.methods.state import Callback, TrainState


def set_trainable(params: Any, flag: bool) -> None:
    for p in params:
        p.requires_grad_(flag)


class Method(Callback):
    """Base: one optimiser ("tnn") over the whole model on the run's schedule.

    Life cycle: `setup(state)` on every start (fresh or resumed); on resume, `restore(state,
    saved)` then re-creates any structure (switcher, prune masks) and optimisers that existed
    when the checkpoint was written, before the runner loads their states."""

    name = "base"

    def __init__(self, cfg: RunConfig) -> None:
        self.cfg = cfg

    # --- life cycle ---------------------------------------------------------------------
    def setup(self, state: TrainState) -> None:
        state.total_epochs = self.cfg.epochs
        self.add_optimizer(state, "tnn", state.model.parameters(), self.cfg.optimizer.lr)

    def restore(self, state: TrainState, saved: dict[str, Any]) -> None:
        pass

    def state_dict(self) -> dict[str, Any]:
        return {}

    # --- helpers ------------------------------------------------------------------------
    def add_optimizer(
        self,
        state: TrainState,
        key: str,
        params: Any,
        lr: float,
        opt_cfg: Any = None,
        schedule_cfg: Any = None,
    ) -> None:
        from dataclasses import replace

        opt_cfg = replace(opt_cfg or self.cfg.optimizer, lr=lr)
        state.optimizers[key] = build_optimizer(params, opt_cfg)
        state.schedules[key] = LRSchedule(schedule_cfg or self.cfg.schedule, lr, state.total_epochs)

    def apply_schedules(self, state: TrainState, epoch: int) -> None:
        for key, schedule in state.schedules.items():
            set_lr(state.optimizers[key], schedule.lr(epoch))

    def set_phase(self, state: TrainState, phase: str, active: tuple[str, ...]) -> None:
        state.phase = phase
        state.active = active
        state.lr = state.optimizers[active[0]].param_groups[0]["lr"]

    # --- callbacks ----------------------------------------------------------------------
    def on_epoch_start(self, state: TrainState, epoch: int) -> None:
        self.apply_schedules(state, epoch)
        self.set_phase(state, "dense", ("tnn",))

    def on_epoch_end(self, state: TrainState, row: dict[str, Any]) -> None:
        for schedule in state.schedules.values():
            schedule.observe(row["train_loss"])
        main = state.schedules.get(state.active[0]) if state.active else None
        if main is not None and main.should_stop(state.epoch):
            state.stop = True

    # --- outputs ------------------------------------------------------------------------
    def export(self, model: nn.Module) -> nn.Module:
        """A plain model whose FC weights are the effective weights (what gets deployed)."""
        from weightswitch.switcher import export

        return export(model)

    def gates(self, model: nn.Module) -> dict[str, torch.Tensor] | None:
        return None

    def run_metrics(self, model: nn.Module) -> dict[str, Any]:
        """Method-specific metrics.json entries."""
        return {"matched_run": None, "target_sparsity": None}
