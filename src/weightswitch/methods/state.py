"""The loop's mutable state and the callback interface (OpenLTH style): the contract between
the training loop (`weightswitch.train`) and a method.

The loop itself knows nothing about methods, checkpoints, tracking or progress output: each
is a `Callback` that reads/writes `TrainState`. A method decides at `on_epoch_start` (and,
for step-unit phases, `on_step_start`) which phase runs, which parameters are trainable and
which optimisers step. It lives here, below `train`, so that a method needs nothing from the
loop that runs it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from weightswitch.config import RunConfig
from weightswitch.methods.optim import LRSchedule


@dataclass
class TrainState:
    cfg: RunConfig
    model: nn.Module
    device: torch.device
    total_epochs: int
    optimizers: dict[str, torch.optim.Optimizer] = field(default_factory=dict)
    schedules: dict[str, LRSchedule] = field(default_factory=dict)
    active: tuple[str, ...] = ()  # names of the optimisers that step in the current phase
    phase: str = "dense"
    lr: float = 0.0  # lr reported for the current phase
    epoch: int = 0  # the next epoch to run (== epochs done)
    step: int = 0  # optimiser steps done, over the whole run
    history: list[dict[str, Any]] = field(default_factory=list)
    stop: bool = False  # set by a callback to end training early (schedule's stop_lr)
    extra: dict[str, Any] = field(default_factory=dict)  # run-level facts for metrics.json


class Callback:
    """Hooks the loop calls; all optional. `per_step` opts into `on_step_start` (hot path)."""

    per_step: bool = False

    def on_epoch_start(self, state: TrainState, epoch: int) -> None:
        pass

    def on_step_start(self, state: TrainState) -> None:
        pass

    def on_epoch_end(self, state: TrainState, row: dict[str, Any]) -> None:
        pass

    def on_fit_end(self, state: TrainState) -> None:
        pass
