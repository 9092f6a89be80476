"""Optimisers and epoch-indexed learning-rate schedules.

Schedules are closed-form functions of the GLOBAL epoch (plateau keeps a little state),
applied by setting `param_group["lr"]` at the start of each epoch. This keeps a schedule
correct for an optimiser created mid-run (the SNN optimiser appears after warm-up) and makes
resume trivial: nothing but plateau's counters needs saving.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import torch
from torch import nn

from weightswitch.config import OptimizerConfig, ScheduleConfig


def build_optimizer(params: Iterable[nn.Parameter], cfg: OptimizerConfig) -> torch.optim.Optimizer:
    """The optimiser; `cfg.grad_clip` travels in its param group (and its checkpoints)."""
    params = list(params)
    if cfg.name == "sgd":
        opt: torch.optim.Optimizer = torch.optim.SGD(
            params,
            lr=cfg.lr,
            momentum=cfg.momentum,
            weight_decay=cfg.weight_decay,
            nesterov=cfg.nesterov,
        )
    else:
        cls = torch.optim.Adam if cfg.name == "adam" else torch.optim.AdamW
        opt = cls(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    for group in opt.param_groups:
        group["grad_clip"] = cfg.grad_clip
    return opt


def clip_gradients(optimizer: torch.optim.Optimizer) -> None:
    """Clip the gradient norm of `optimizer`'s parameters to its `grad_clip`, if set.

    No host sync: the scale factor stays on the device."""
    for group in optimizer.param_groups:
        if group.get("grad_clip"):
            grads = [p for p in group["params"] if p.grad is not None]
            if grads:
                nn.utils.clip_grad_norm_(grads, group["grad_clip"])


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr


class LRSchedule:
    """lr(epoch) for multistep / cosine / constant; ReduceLROnPlateau semantics for plateau
    (relative threshold 1e-4, no cooldown, like torch's defaults) on the training loss."""

    def __init__(self, cfg: ScheduleConfig, base_lr: float, epochs: int) -> None:
        self.cfg = cfg
        self.base_lr = base_lr
        self.epochs = epochs
        self.current = base_lr  # plateau state
        self.best = math.inf
        self.bad_epochs = 0

    def lr(self, epoch: int) -> float:
        c = self.cfg
        if c.name == "multistep":
            return self.base_lr * c.gamma ** sum(1 for m in c.milestones if epoch >= m)
        if c.name == "cosine":
            t = min(epoch, self.epochs) / max(self.epochs, 1)
            return c.min_lr + (self.base_lr - c.min_lr) * (1 + math.cos(math.pi * t)) / 2
        if c.name == "plateau":
            return self.current
        return self.base_lr

    def observe(self, train_loss: float) -> None:
        """End-of-epoch update (plateau only)."""
        if self.cfg.name != "plateau":
            return
        if train_loss < self.best * (1 - 1e-4):
            self.best, self.bad_epochs = train_loss, 0
        else:
            self.bad_epochs += 1
        if self.bad_epochs > self.cfg.patience:
            self.current = max(self.current * self.cfg.factor, self.cfg.min_lr)
            self.bad_epochs = 0

    def should_stop(self, next_epoch: int) -> bool:
        """True once the lr for `next_epoch` is below `stop_lr`."""
        return self.cfg.stop_lr is not None and self.lr(next_epoch) < self.cfg.stop_lr

    def state_dict(self) -> dict[str, Any]:
        return {"current": self.current, "best": self.best, "bad_epochs": self.bad_epochs}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.current = float(state["current"])
        self.best = float(state["best"])
        self.bad_epochs = int(state["bad_epochs"])
