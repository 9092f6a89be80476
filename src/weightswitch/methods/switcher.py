"""`switcher` / `switcher-neuron`: alternating TNN / SNN phases (docs/design.md,
"Alternating training").

- warm-up (optional): plain dense training, no switcher attached yet;
- TNN phase: the task optimiser trains W, biases and the backbone; W's gradient flows
  through the gate computation. The SNN's conv kernels are frozen; the affine parameters of
  its BatchNorms train too (`train_snn_norm_in_tnn_phase`, on by default as in the
  reference, whose optimisers span every parameter and freeze by requires_grad only); the
  SNN optimiser steps them (the reference's optimisers share lr 0.1 and carry no momentum,
  so which of the two steps them makes no difference there);
- SNN phase: the SNN optimiser trains the SNN; the switched layers (W and b) are frozen; the
  rest of the task network (the backbone) trains too iff `train_backbone_in_snn_phase`.
Phases alternate every `phase_length` epochs or optimiser steps, starting with TNN.

The ablations of issue 12 run through this same method: `switcher-noise` (each SNN reads a
fixed noise image, drawn from the run's seed with the std of W's initial values) and
`free-gates` / `free-gates-neuron` (a free score per gate instead of an SNN; the scores train
where the SNN's kernels would, the final normalisation's affine where the SNN's BatchNorms'
would).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from weightswitch.errors import WeightswitchError
from weightswitch.methods.base import Method, set_trainable
from weightswitch.methods.state import TrainState
from weightswitch.models import switchable_names


def to_half(gates: torch.Tensor) -> torch.Tensor:
    """float16 copy that keeps zero == zero: tiny positive gates that would underflow to 0
    become the smallest float16 subnormal, so gates.pt never shows extra sparsity."""
    half = gates.detach().to("cpu", torch.float16)
    underflow = (half == 0) & (gates.detach().cpu() > 0)
    return half.masked_fill_(underflow, torch.finfo(torch.float16).smallest_normal / 1024)


class SwitcherMethod(Method):
    name = "switcher"

    def __init__(self, cfg: Any) -> None:
        super().__init__(cfg)
        self.sw = cfg.switcher
        self.per_step = self.sw.phase_unit == "step"
        self.attached = False
        self.start_step = 0  # global step at which the switcher was attached
        self._current: str | None = None
        self._counts: dict[str, int] = {}
        self.init_std: dict[str, float] = {}
        # per epoch: Spearman(g, |W|) per switched layer (a measurement: changes no number)
        self.spearman: list[dict[str, float]] = []

    # --- life cycle ---------------------------------------------------------------------
    def setup(self, state: TrainState) -> None:
        self.init_std = {  # the noise ablation's scale: W's initial values, before any warm-up
            n: float(state.model.get_submodule(n).weight.detach().std())
            for n in switchable_names(state.model)
        }
        super().setup(state)  # the TNN optimiser, over every parameter (pre-attach order)

    def restore(self, state: TrainState, saved: dict[str, Any]) -> None:
        if saved.get("attached"):
            self._attach(state)
            self.start_step = int(saved["start_step"])
        self.spearman = [dict(r) for r in saved.get("spearman", [])]

    def state_dict(self) -> dict[str, Any]:
        return {"attached": self.attached, "start_step": self.start_step, "spearman": self.spearman}

    def _attach(self, state: TrainState) -> None:
        from weightswitch.switcher import attach_switcher, snn_parameters, task_parameters
        from weightswitch.switcher.speed import set_snn_compile

        model = state.model
        before = {id(p) for g in state.optimizers["tnn"].param_groups for p in g["params"]}
        attach_switcher(
            model,
            granularity=self.sw.granularity,
            gate_net=self.sw.gate_net,
            snn_input=self.sw.snn_input,
            noise_seed=self.cfg.seed,
            noise_std=self.init_std,
        )
        model.to(state.device)
        set_snn_compile(model, self.sw.snn_compile)
        if {id(p) for p in task_parameters(model)} != before:
            raise WeightswitchError(
                "attach_switcher replaced task parameters; the TNN optimiser would lose them"
            )
        self.add_optimizer(
            state,
            "snn",
            snn_parameters(model),
            self.sw.snn_optimizer.lr,
            opt_cfg=self.sw.snn_optimizer,
            schedule_cfg=self.sw.snn_schedule,
        )
        self.attached = True
        self.start_step = state.step
        self._current = None

    # --- phases -------------------------------------------------------------------------
    def _apply(self, state: TrainState, phase: str) -> None:
        if phase == self._current:
            return
        from weightswitch.switcher import (
            snn_norm_parameters,
            snn_parameters,
            switched_weights,
            task_parameters,
        )

        model = state.model
        model.zero_grad(set_to_none=True)
        if phase == "warmup":
            set_trainable(model.parameters(), True)
            active: tuple[str, ...] = ("tnn",)
        elif phase == "tnn":
            set_trainable(task_parameters(model), True)
            set_trainable(snn_parameters(model), False)
            active = ("tnn",)
            if self.sw.train_snn_norm_in_tnn_phase:
                set_trainable(snn_norm_parameters(model), True)
                active = ("tnn", "snn")
        else:
            backbone = self.sw.train_backbone_in_snn_phase
            set_trainable(task_parameters(model), backbone)
            set_trainable(switched_weights(model), False)
            set_trainable(snn_parameters(model), True)
            active = ("snn", "tnn") if backbone else ("snn",)
        self._current = phase
        self.set_phase(state, phase, active)

    def _phase_of(self, index: int) -> str:
        return "tnn" if (index // self.sw.phase_length) % 2 == 0 else "snn"

    def on_epoch_start(self, state: TrainState, epoch: int) -> None:
        if epoch >= self.sw.warmup_epochs and not self.attached:
            self._attach(state)
        self.apply_schedules(state, epoch)
        self._counts = {"tnn": 0, "snn": 0}
        if not self.attached:
            self._apply(state, "warmup")
        elif self.per_step:
            self._apply(state, self._phase_of(state.step - self.start_step))
        else:
            self._apply(state, self._phase_of(epoch - self.sw.warmup_epochs))
        # lr may have changed with the schedule even if the phase did not
        state.lr = state.optimizers[state.active[0]].param_groups[0]["lr"]

    def on_step_start(self, state: TrainState) -> None:
        if self.attached:
            phase = self._phase_of(state.step - self.start_step)
            self._apply(state, phase)
            self._counts[phase] += 1

    def on_epoch_end(self, state: TrainState, row: dict[str, Any]) -> None:
        if self.attached:
            from weightswitch.switcher.stats import gate_weight_spearman

            self.spearman.append({"epoch": int(row["epoch"]), **gate_weight_spearman(state.model)})
        if self.per_step and self.attached:
            # step-unit epochs mix phases: label the epoch by the phase of most of its steps
            row["phase"] = "snn" if self._counts["snn"] > self._counts["tnn"] else "tnn"
        for schedule in state.schedules.values():
            schedule.observe(row["train_loss"])
        if state.schedules["tnn"].should_stop(state.epoch):
            state.stop = True

    # --- outputs ------------------------------------------------------------------------
    def run_metrics(self, model: nn.Module) -> dict[str, Any]:
        return {**super().run_metrics(model), "gate_weight_spearman": self.spearman}

    @torch.no_grad()
    def gates(self, model: nn.Module) -> dict[str, torch.Tensor]:
        from weightswitch.switcher import switched_layers

        return {n: to_half(m.gates()) for n, m in switched_layers(model).items()}
