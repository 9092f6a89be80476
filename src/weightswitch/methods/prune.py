"""`magnitude` / `random`: prune a trained dense model, then fine-tune (DESIGN 1.5).

The dense model comes from `init_from` (a finished dense run: its final weights, history and
RNG state, so the result equals training dense inside this run) or is trained here for
`epochs`. The switchable FC layers are pruned with `torch.nn.utils.prune` to the target
(`sparsity`, or per layer to a finished switcher run via `match`), then every layer is
fine-tuned for `finetune_epochs` with the masks fixed (history phase `finetune`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn.utils import prune

from weightswitch.config import ScheduleConfig
from weightswitch.errors import UsageError
from weightswitch.methods.base import Method
from weightswitch.train import checkpoint
from weightswitch.train.callbacks import TrainState
from weightswitch.train.metrics import switchable_names


def _read_json(path: Path, what: str) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"{what}: {path} not found (is the run finished?)") from None
    except (OSError, json.JSONDecodeError) as exc:
        raise UsageError(f"{what}: cannot read {path} ({exc})") from None


def _check_same_model(data: dict[str, Any], cfg: Any, what: str, run_dir: Path) -> None:
    for key in ("arch", "dataset"):
        if data.get(key) != getattr(cfg, key):
            raise UsageError(
                f"{what} {run_dir} is a {data.get(key)!r} run, this run's {key} is "
                f"{getattr(cfg, key)!r}"
            )


class PruneMethod(Method):
    name = "prune"

    def __init__(self, cfg: Any) -> None:
        super().__init__(cfg)
        self.pr = cfg.prune
        self.dense_epochs = cfg.epochs
        self.pruned = False
        self.finetune_lr: float | None = None
        self.counts: dict[str, int] = {}
        self.target_sparsity: float | None = self.pr.sparsity
        self.matched_run: str | None = None

    # --- targets ------------------------------------------------------------------------
    def _targets(self, model: nn.Module) -> dict[str, int]:
        """Number of weights to zero per switchable layer."""
        names = switchable_names(model)
        sizes = {n: model.get_submodule(n).weight.numel() for n in names}
        if self.pr.match is None:
            return {n: round(self.pr.sparsity * sizes[n]) for n in names}
        run_dir = Path(self.pr.match)
        data = _read_json(run_dir / "metrics.json", "--match")
        _check_same_model(data, self.cfg, "--match", run_dir)
        layers = data.get("layer_sparsity") or {}
        if set(layers) != set(names):
            raise UsageError(
                f"--match {run_dir}: its layers ({', '.join(layers) or 'none'}) are not this "
                f"model's switchable layers ({', '.join(names)})"
            )
        self.matched_run = str(self.pr.match)
        self.target_sparsity = data.get("fc_sparsity")
        return {n: round(float(layers[n]) * sizes[n]) for n in names}

    def _load_dense(self, state: TrainState) -> None:
        run_dir = Path(self.pr.init_from)
        config = _read_json(run_dir / "config.json", "--init-from")
        _check_same_model(config, self.cfg, "--init-from", run_dir)
        if config.get("method") != "dense":
            raise UsageError(f"--init-from {run_dir} is a {config.get('method')!r} run, not dense")
        _read_json(run_dir / "metrics.json", "--init-from")  # finished?
        ckpt = checkpoint.load(run_dir / "checkpoint.pt")
        state.model.load_state_dict(ckpt["model"])
        state.history = [dict(row) for row in ckpt["history"]]
        state.step = int(ckpt["step"])
        state.epoch = self.dense_epochs = len(state.history)
        checkpoint.set_rng_state(ckpt["rng"])
        state.extra["init_from"] = str(self.pr.init_from)

    # --- life cycle ---------------------------------------------------------------------
    def setup(self, state: TrainState) -> None:
        self.counts = self._targets(state.model)  # fail fast, before any training
        if self.pr.init_from:
            self._load_dense(state)
        state.total_epochs = self.dense_epochs + self.pr.finetune_epochs
        self.add_optimizer(state, "tnn", state.model.parameters(), self.cfg.optimizer.lr)

    def restore(self, state: TrainState, saved: dict[str, Any]) -> None:
        self.dense_epochs = int(saved["dense_epochs"])
        state.total_epochs = self.dense_epochs + self.pr.finetune_epochs
        if saved["pruned"]:
            for name in switchable_names(state.model):  # masks come with the model state
                prune.identity(state.model.get_submodule(name), "weight")
            self._start_finetune(state, float(saved["finetune_lr"]))

    def state_dict(self) -> dict[str, Any]:
        return {
            "pruned": self.pruned,
            "finetune_lr": self.finetune_lr,
            "dense_epochs": self.dense_epochs,
        }

    # --- pruning ------------------------------------------------------------------------
    def _prune(self, state: TrainState) -> None:
        model = state.model
        layers = [(model.get_submodule(n), "weight") for n in switchable_names(model)]
        method = prune.L1Unstructured if self.pr.method == "magnitude" else prune.RandomUnstructured
        devices = [state.device] if state.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(self.cfg.seed)  # random masks depend on the seed only
            if self.pr.scope == "global":
                total = sum(self.counts.values())
                prune.global_unstructured(layers, pruning_method=method, amount=total)
            else:
                for (module, _), count in zip(layers, self.counts.values(), strict=True):
                    method.apply(module, "weight", amount=count)
        lr = self.pr.finetune_lr or (state.history[-1]["lr"] if state.history else None)
        self._start_finetune(state, float(lr or self.cfg.optimizer.lr))

    def _start_finetune(self, state: TrainState, lr: float) -> None:
        state.optimizers.clear()
        state.schedules.clear()
        self.add_optimizer(
            state, "finetune", state.model.parameters(), lr, schedule_cfg=ScheduleConfig()
        )
        self.finetune_lr = lr
        self.pruned = True

    # --- callbacks ----------------------------------------------------------------------
    def on_epoch_start(self, state: TrainState, epoch: int) -> None:
        if epoch < self.dense_epochs:
            super().on_epoch_start(state, epoch)
            return
        if not self.pruned:
            self._prune(state)
        self.apply_schedules(state, epoch)
        self.set_phase(state, "finetune", ("finetune",))

    def on_epoch_end(self, state: TrainState, row: dict[str, Any]) -> None:
        super().on_epoch_end(state, row)
        if state.stop and not self.pruned:  # stop_lr ends the dense part, not the run
            state.stop = False
            self.dense_epochs = state.epoch
            state.total_epochs = self.dense_epochs + self.pr.finetune_epochs

    def on_fit_end(self, state: TrainState) -> None:
        if not self.pruned:  # finetune_epochs == 0
            self._prune(state)

    # --- outputs ------------------------------------------------------------------------
    def run_metrics(self, model: nn.Module) -> dict[str, Any]:
        return {
            "matched_run": self.matched_run,
            "target_sparsity": self.target_sparsity,
            "dense_epochs": self.dense_epochs,
            "finetune_lr": self.finetune_lr,
        }
