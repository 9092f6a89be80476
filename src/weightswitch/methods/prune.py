"""`magnitude` / `random` / `iterative`: prune a trained dense model, then fine-tune;
`gate` / `gate-weight` (and their ablation twins): prune a trained switcher's effective network
ranked by its gates, then fine-tune alike.

The model to prune comes from `init_from`, a finished run of the method's catalog `parent`
(its final weights, history and RNG state, so the result equals training the parent inside
this run), or, for a dense parent, is trained here for `epochs`. A connection-gated parent
(switcher, switcher-noise, free-gates) is rebuilt from its checkpoint and exported: the run
continues from its effective network W·G (what the parent deploys) and keeps the parent's
gates g (float32, from the very weights) to rank the connections. The switchable FC layers
are pruned with `torch.nn.utils.prune` to the target (`sparsity`, spread over the layers by
`allocation`, or per layer to a finished switcher run via `match`), then every layer is
fine-tuned for `finetune_epochs` with the masks fixed (history phase `finetune`), at
`finetune_lr` on `finetune_schedule` (its epochs count from the start of the fine-tuning).

`iterative` (Han et al. 2015: prune, retrain, repeat) prunes by magnitude in `steps` rounds,
each followed by `finetune_epochs`: after round j of k a layer keeps the fraction
(1 - s)^(j/k) of its weights (a geometric schedule), so the last round lands on exactly the
same per-layer counts as one-shot pruning to s. Weights pruned in a round stay pruned (they
are exact zeros, the smallest magnitudes, when the next round ranks the layer again).

The criteria, the allocation of a target over the layers and the masks: `methods.criteria`
(`CRITERIA`, `register_criterion`, `layer_counts`, `prune_masks`, importable from here too);
the finished parent run: `methods.parent`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor, nn
from torch.nn.utils import prune

from weightswitch import checkpoint
from weightswitch.catalog import PRUNE_PARENTS
from weightswitch.errors import UsageError
from weightswitch.methods.base import Method
from weightswitch.methods.criteria import (
    CRITERIA,
    Criterion,
    get_criterion,
    layer_counts,
    prune_masks,
    register_criterion,
)
from weightswitch.methods.parent import (
    check_same_model,
    finished_record,
    gated_parent,
    parent_checkpoint,
    read_json,
)
from weightswitch.run_files import CONFIG

if TYPE_CHECKING:
    from weightswitch.methods.state import TrainState

__all__ = [
    "CRITERIA",
    "Criterion",
    "PruneMethod",
    "get_criterion",
    "layer_counts",
    "prune_masks",
    "register_criterion",
]


class PruneMethod(Method):
    name = "prune"

    def __init__(self, cfg: Any) -> None:
        super().__init__(cfg)
        self.pr = cfg.prune
        self.criterion = get_criterion(self.pr.criterion)
        self.parent_method = PRUNE_PARENTS.get(cfg.method, "dense")
        self.rank_gates: dict[str, Tensor] | None = None  # a gated parent's g per layer
        self.rank_raw: dict[str, Tensor] | None = None  # ... and its W before gating
        self.dense_epochs = cfg.epochs  # the parent's epochs (dense or switcher)
        self.steps_done = 0  # pruning rounds applied (one-shot: 0 or 1)
        self.finetune_lr: float | None = None
        self.counts: dict[str, int] = {}  # final weights to zero per layer
        self.sizes: dict[str, int] = {}
        self.target_sparsity: float | None = self.pr.sparsity
        self.matched_run: str | None = None

    # --- targets ------------------------------------------------------------------------
    def _targets(self, model: nn.Module) -> dict[str, int]:
        """Number of weights to zero per switchable layer."""
        names = tuple(model.switchable)
        sizes = self.sizes = {n: model.get_submodule(n).weight.numel() for n in names}
        if self.pr.match is None:
            return layer_counts(sizes, self.pr.sparsity, self.pr.allocation, self.pr.output_ratio)
        run_dir = Path(self.pr.match)
        data = finished_record(run_dir, "--match")
        check_same_model(data, self.cfg, "--match", run_dir)
        layers = data.get("layer_sparsity") or {}
        if set(layers) != set(names):
            raise UsageError(
                f"--match {run_dir}: its layers ({', '.join(layers) or 'none'}) are not this "
                f"model's switchable layers ({', '.join(names)})"
            )
        self.matched_run = str(self.pr.match)
        self.target_sparsity = data.get("fc_sparsity")
        return {n: round(float(layers[n]) * sizes[n]) for n in names}

    def _load_parent(self, state: TrainState) -> None:
        """The finished parent run: its final (for a gated parent: exported, W·G) weights,
        history, step and RNG state; a gated parent's gates rank the connections."""
        run_dir = Path(self.pr.init_from)
        config = read_json(run_dir / CONFIG, "--init-from")
        check_same_model(config, self.cfg, "--init-from", run_dir)
        want = self.parent_method
        if config.get("method") != want:
            why = "" if want == "dense" else f" (method {self.cfg.method} prunes a {want} run)"
            raise UsageError(
                f"--init-from {run_dir} is a {config.get('method')!r} run, not {want}{why}"
            )
        metrics = finished_record(run_dir, "--init-from")
        ckpt = parent_checkpoint(run_dir, metrics)
        weights = ckpt["model"]
        if want != "dense":
            weights, gates, raw = gated_parent(config, weights, run_dir)
            self.rank_gates = {n: g.to(state.device) for n, g in gates.items()}
            self.rank_raw = {n: w.to(state.device) for n, w in raw.items()}
        try:
            state.model.load_state_dict(weights)
        except RuntimeError as exc:
            first = str(exc).strip().splitlines()[0]
            raise UsageError(
                f"--init-from {run_dir}: its network does not fit this run's ({first})"
            ) from None
        state.history = [dict(row) for row in ckpt["history"]]
        state.step = int(ckpt["step"])
        state.epoch = self.dense_epochs = len(state.history)
        checkpoint.set_rng_state(ckpt["rng"])
        state.extra["init_from"] = str(self.pr.init_from)

    # --- life cycle ---------------------------------------------------------------------
    def setup(self, state: TrainState) -> None:
        self.counts = self._targets(state.model)  # fail fast, before any training
        if self.parent_method != "dense" and not self.pr.init_from:
            raise UsageError(
                f"method {self.cfg.method} prunes a finished {self.parent_method} "
                "run: pass --init-from RUN_DIR"
            )
        if self.criterion.gated and self.parent_method == "dense":
            raise UsageError(
                f"criterion {self.pr.criterion!r} ranks gates: method "
                f"{self.cfg.method} needs a gated parent in the catalog"
            )
        if self.pr.init_from:
            self._load_parent(state)
        state.total_epochs = self._total_epochs()
        self.add_optimizer(state, "tnn", state.model.parameters(), self.cfg.optimizer.lr)

    def _total_epochs(self) -> int:
        return self.dense_epochs + self.pr.steps * self.pr.finetune_epochs

    @property
    def pruned(self) -> bool:
        return self.steps_done > 0

    def restore(self, state: TrainState, saved: dict[str, Any]) -> None:
        self.dense_epochs = int(saved["dense_epochs"])
        state.total_epochs = self._total_epochs()
        self.steps_done = int(saved.get("steps_done", 1 if saved.get("pruned") else 0))
        if self.pruned:
            for name in state.model.switchable:  # masks come with the model state
                prune.identity(state.model.get_submodule(name), "weight")
            self._start_finetune(state, float(saved["finetune_lr"]))

    def state_dict(self) -> dict[str, Any]:
        return {
            "pruned": self.pruned,
            "steps_done": self.steps_done,
            "finetune_lr": self.finetune_lr,
            "dense_epochs": self.dense_epochs,
        }

    # --- pruning ------------------------------------------------------------------------
    def step_counts(self, step: int) -> dict[str, int]:
        """Weights to zero per layer after round `step` (1..steps); the last round gives
        exactly `counts`. With scope=global, the layers' sum is what counts."""
        k = self.pr.steps
        if step >= k:
            return dict(self.counts)
        sizes = self.sizes
        if self.pr.allocation == "global":
            total, n = sum(self.counts.values()), sum(sizes.values())
            return {"*": round(n * (1 - (1 - total / n) ** (step / k)))}
        return {
            name: round(sizes[name] * (1 - (1 - count / sizes[name]) ** (step / k)))
            for name, count in self.counts.items()
        }

    def _prune_step(self, state: TrainState) -> None:
        """One pruning round: rank the (already masked) weights again and zero more."""
        model = state.model
        names = tuple(model.switchable)
        if self.pruned:  # bake the current masks in: pruned weights become exact zeros
            for name in names:
                prune.remove(model.get_submodule(name), "weight")
        counts = self.step_counts(self.steps_done + 1)
        modules = {n: model.get_submodule(n) for n in names}
        devices = [state.device] if state.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(self.cfg.seed)  # random masks depend on the seed only
            weights = {n: m.weight for n, m in modules.items()}
            scope = "global" if self.pr.allocation == "global" else "layer"
            masks = prune_masks(
                weights, counts, self.criterion, scope, self.rank_gates, self.rank_raw
            )
        for name, module in modules.items():
            prune.custom_from_mask(module, "weight", masks[name])
        if self.finetune_lr is None:
            lr = self.pr.finetune_lr or (state.history[-1]["lr"] if state.history else None)
            self.finetune_lr = float(lr or self.cfg.optimizer.lr)
        self.steps_done += 1
        self._start_finetune(state, self.finetune_lr)  # new Parameters after remove()

    def _start_finetune(self, state: TrainState, lr: float) -> None:
        state.optimizers.clear()
        state.schedules.clear()
        self.add_optimizer(
            state, "finetune", state.model.parameters(), lr, schedule_cfg=self.pr.finetune_schedule
        )
        # its epochs count from the start of this fine-tuning (`_finetune_epoch`)
        state.schedules["finetune"].epochs = max(self.pr.finetune_epochs, 1)
        self.finetune_lr = lr

    def _finetune_epoch(self, epoch: int) -> int:
        """`epoch` (global, 0-based) counted from the start of the current fine-tuning round."""
        return epoch - self.dense_epochs - (self.steps_done - 1) * self.pr.finetune_epochs

    # --- callbacks ----------------------------------------------------------------------
    def on_epoch_start(self, state: TrainState, epoch: int) -> None:
        if epoch < self.dense_epochs:
            super().on_epoch_start(state, epoch)
            return
        rounds = min(self.pr.steps, (epoch - self.dense_epochs) // self.pr.finetune_epochs + 1)
        while self.steps_done < rounds:
            self._prune_step(state)
        self.apply_schedules(state, self._finetune_epoch(epoch))
        self.set_phase(state, "finetune", ("finetune",))

    def on_epoch_end(self, state: TrainState, row: dict[str, Any]) -> None:
        super().on_epoch_end(state, row)
        if state.stop and not self.pruned:  # stop_lr ends the dense part, not the run
            state.stop = False
            self.dense_epochs = state.epoch
            state.total_epochs = self._total_epochs()

    def on_fit_end(self, state: TrainState) -> None:
        while self.steps_done < self.pr.steps:  # finetune_epochs == 0 (one-shot only)
            self._prune_step(state)

    # --- outputs ------------------------------------------------------------------------
    def run_metrics(self, model: nn.Module) -> dict[str, Any]:
        names = tuple(model.switchable)
        return {
            "matched_run": self.matched_run,
            "target_sparsity": self.target_sparsity,
            "dense_epochs": self.dense_epochs,  # the parent's epochs (dense or gated)
            "finetune_lr": self.finetune_lr,
            "prune_steps": self.steps_done,
            # what was pruned and how the target was spread over the layers
            "parent_method": self.parent_method,
            "criterion": self.pr.criterion,
            "allocation": self.pr.allocation,
            "output_layer": names[-1] if names else None,
            "layer_target_sparsity": {n: self.counts[n] / self.sizes[n] for n in self.counts},
        }
