"""`magnitude` / `random` / `iterative`: prune a trained dense model, then fine-tune.

The dense model comes from `init_from` (a finished dense run: its final weights, history and
RNG state, so the result equals training dense inside this run) or is trained here for
`epochs`. The switchable FC layers are pruned with `torch.nn.utils.prune` to the target
(`sparsity`, or per layer to a finished switcher run via `match`), then every layer is
fine-tuned for `finetune_epochs` with the masks fixed (history phase `finetune`).

`iterative` (Han et al. 2015: prune, retrain, repeat) prunes by magnitude in `steps` rounds,
each followed by `finetune_epochs`: after round j of k a layer keeps the fraction
(1 - s)^(j/k) of its weights (a geometric schedule), so the last round lands on exactly the
same per-layer counts as one-shot pruning to s. Weights pruned in a round stay pruned (they
are exact zeros, the smallest magnitudes, when the next round ranks the layer again).

Criteria are plug-ins: `CRITERIA` maps a name (a catalog method's `criterion`) to a function
that scores one layer's weights; the weights with the lowest scores are pruned first (per
layer, or over all switchable layers with scope=global). Adding one is a function and
`@register_criterion("name")` (docs/extending.md). Masks are applied with
`torch.nn.utils.prune.custom_from_mask`, so a pruned layer is the same module as before.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor, nn
from torch.nn.utils import prune

from weightswitch.config import ScheduleConfig
from weightswitch.errors import UsageError, unknown_choice
from weightswitch.methods.base import Method
from weightswitch.train import checkpoint  # layering: docs/architecture.md, "Known exceptions"

if TYPE_CHECKING:
    from weightswitch.train.callbacks import TrainState

Score = Callable[[Tensor], Tensor]


@dataclass(frozen=True)
class Criterion:
    """`score(weight)`: a tensor of weight's shape; the lowest scores are pruned first (the
    highest with `prune_highest`)."""

    score: Score
    prune_highest: bool = False


CRITERIA: dict[str, Criterion] = {}


def register_criterion(name: str, *, prune_highest: bool = False) -> Callable[[Score], Score]:
    """Decorator: make `fn(weight) -> scores` the pruning criterion `name`."""

    def add(fn: Score) -> Score:
        CRITERIA[name] = Criterion(fn, prune_highest)
        return fn

    return add


@register_criterion("magnitude")
def magnitude(weight: Tensor) -> Tensor:
    """|w| (Han et al. 2015): the smallest weights go first."""
    return weight.abs()


@register_criterion("random", prune_highest=True)
def uniform(weight: Tensor) -> Tensor:
    """Uniform draws from the global RNG (seeded per run); the k highest go, as in torch's
    `RandomUnstructured`, so masks are those of earlier versions."""
    return torch.rand_like(weight)


def get_criterion(name: str) -> Criterion:
    if name not in CRITERIA:
        raise unknown_choice("pruning criterion", name, CRITERIA)
    return CRITERIA[name]


@torch.no_grad()
def prune_masks(
    weights: Mapping[str, Tensor], counts: Mapping[str, int], criterion: Criterion, scope: str
) -> dict[str, Tensor]:
    """A 0/1 mask per layer that zeroes `counts[name]` weights of each layer (scope "layer"),
    or `sum(counts)` weights over all layers together ("global"), those the criterion ranks
    first. A layer (or, global, a model) with nothing to prune is not scored at all, so a
    random criterion draws exactly what torch's pruning did (tests/test_catalog.py; with
    scope=global on a GPU, torch drew once for all layers, here each layer draws its own)."""
    masks = {n: torch.ones_like(w) for n, w in weights.items()}

    def zero(flat_mask: Tensor, scores: Tensor, k: int) -> None:
        picked = torch.topk(scores.reshape(-1), k, largest=criterion.prune_highest).indices
        flat_mask[picked] = 0

    if scope == "global":
        total = sum(counts.values())
        if total:
            flat = torch.cat([m.reshape(-1) for m in masks.values()])
            zero(flat, torch.cat([criterion.score(w).reshape(-1) for w in weights.values()]), total)
            sizes = [m.numel() for m in masks.values()]
            for (name, mask), part in zip(masks.items(), flat.split(sizes), strict=True):
                masks[name] = part.view_as(mask)
        return masks
    for name, weight in weights.items():
        if counts.get(name, 0):
            zero(masks[name].view(-1), criterion.score(weight), counts[name])
    return masks


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
        self.criterion = get_criterion(self.pr.method)
        self.dense_epochs = cfg.epochs
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
        if self.pr.scope == "global":
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
            masks = prune_masks(weights, counts, self.criterion, self.pr.scope)
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
            state, "finetune", state.model.parameters(), lr, schedule_cfg=ScheduleConfig()
        )
        self.finetune_lr = lr

    # --- callbacks ----------------------------------------------------------------------
    def on_epoch_start(self, state: TrainState, epoch: int) -> None:
        if epoch < self.dense_epochs:
            super().on_epoch_start(state, epoch)
            return
        rounds = min(self.pr.steps, (epoch - self.dense_epochs) // self.pr.finetune_epochs + 1)
        while self.steps_done < rounds:
            self._prune_step(state)
        self.apply_schedules(state, epoch)
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
        return {
            "matched_run": self.matched_run,
            "target_sparsity": self.target_sparsity,
            "dense_epochs": self.dense_epochs,
            "finetune_lr": self.finetune_lr,
            "prune_steps": self.steps_done,
        }
