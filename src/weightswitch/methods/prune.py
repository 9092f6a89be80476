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

Allocation (`layer_counts`): "uniform" prunes every layer to `sparsity`; "output-denser"
prunes the output layer (the last switchable layer) to `output_ratio` x `sparsity` and the
other layers, at one common sparsity, to the rest, so that the FC layers together reach
`sparsity` (Han et al. 2015 keep the output layer denser); "global" ranks all switchable
layers together (one threshold), zeroing as many weights in total as "uniform" would.

`iterative` (Han et al. 2015: prune, retrain, repeat) prunes by magnitude in `steps` rounds,
each followed by `finetune_epochs`: after round j of k a layer keeps the fraction
(1 - s)^(j/k) of its weights (a geometric schedule), so the last round lands on exactly the
same per-layer counts as one-shot pruning to s. Weights pruned in a round stay pruned (they
are exact zeros, the smallest magnitudes, when the next round ranks the layer again).

Criteria are plug-ins: `CRITERIA` maps a name (a catalog method's `criterion`) to a function
that scores one layer's weights; the weights with the lowest scores are pruned first (per
layer, or over all switchable layers with allocation global). Adding one is a function and
`@register_criterion("name")` (docs/extending.md); a `gated` criterion scores
`(weight, gate, raw)`: the layer's effective weight W·G, the parent's gate g and the parent's
own weight W before gating (so that a ranking by |W| alone can be set beside g and |g·W| of
the same net). Criterion `none` ranks nothing: the equal-budget control, a parent fine-tuned
at 0 % sparsity with the children's schedule. Masks are applied
with `torch.nn.utils.prune.custom_from_mask`, so a pruned layer is the same module as before.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor, nn
from torch.nn.utils import prune

from weightswitch import checkpoint
from weightswitch.catalog import PRUNE_PARENTS
from weightswitch.errors import UsageError, unknown_choice
from weightswitch.methods.base import Method
from weightswitch.run_files import CHECKPOINT, CONFIG, METRICS

if TYPE_CHECKING:
    from weightswitch.methods.state import TrainState

Score = Callable[..., Tensor]


@dataclass(frozen=True)
class Criterion:
    """`score(weight)`, or `score(weight, gate, raw)` when `gated`: a tensor of weight's
    shape; the lowest scores are pruned first (the highest with `prune_highest`). A gated
    criterion ranks a connection-gated parent's connections: `weight` is the effective weight
    W·G the run starts from, `gate` the parent's gate g of each connection, `raw` its weight W
    before gating."""

    score: Score
    prune_highest: bool = False
    gated: bool = False


CRITERIA: dict[str, Criterion] = {}


def register_criterion(
    name: str, *, prune_highest: bool = False, gated: bool = False
) -> Callable[[Score], Score]:
    """Decorator: make `fn(weight) -> scores` (`gated`: `fn(weight, gate, raw) -> scores`) the
    pruning criterion `name`."""

    def add(fn: Score) -> Score:
        CRITERIA[name] = Criterion(fn, prune_highest, gated)
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


@register_criterion("none")
def nothing(weight: Tensor) -> Tensor:
    """The equal-budget control (sparsity 0): never asked to rank, since nothing is pruned."""
    raise UsageError("criterion 'none' prunes nothing: it runs only at --sparsity 0")


@register_criterion("gate", gated=True)
def gate(weight: Tensor, gate: Tensor, raw: Tensor | None = None) -> Tensor:
    """g: the connections the parent's gates switch least on go first."""
    return gate


@register_criterion("gate-weight", gated=True)
def gate_weight(weight: Tensor, gate: Tensor, raw: Tensor | None = None) -> Tensor:
    """|g·W|: `weight` is the effective weight W·G itself, so this is magnitude pruning of the
    parent's exported network."""
    return weight.abs()


@register_criterion("weight-alone", gated=True)
def weight_alone(weight: Tensor, gate: Tensor, raw: Tensor | None = None) -> Tensor:
    """|W| of the gated parent, its gates ignored: the simplest ranking of the same net, the
    one a gate ranking must beat to show that g holds information |W| does not."""
    if raw is None:
        raise UsageError("criterion 'weight-alone' needs the parent's weights before gating")
    return raw.abs()


def get_criterion(name: str) -> Criterion:
    if name not in CRITERIA:
        raise unknown_choice("pruning criterion", name, CRITERIA)
    return CRITERIA[name]


def layer_counts(
    sizes: Mapping[str, int],
    sparsity: float,
    allocation: str = "uniform",
    output_ratio: float = 0.8,
) -> dict[str, int]:
    """Weights to zero per layer (`sizes`: weights per switchable layer, in forward order, the
    output layer last) for an FC sparsity target (module docstring, "Allocation")."""
    if allocation != "output-denser":
        return {name: round(sparsity * size) for name, size in sizes.items()}
    *hidden, output = sizes
    if not hidden:
        raise UsageError("allocation output-denser needs at least two switchable layers")
    out_count = round(output_ratio * sparsity * sizes[output])
    rest = round(sparsity * sum(sizes.values())) - out_count
    room = sum(sizes[name] for name in hidden)
    if rest > room:
        raise UsageError(
            f"allocation output-denser: with the output layer at {output_ratio:g} x "
            f"{sparsity:g}, the other layers would need more than all their weights pruned"
        )
    share = {name: rest * sizes[name] / room for name in hidden}  # one common sparsity
    counts = {name: math.floor(value) for name, value in share.items()}
    left = rest - sum(counts.values())  # largest remainders, earlier layers first on ties
    for name in sorted(hidden, key=lambda n: counts[n] - share[n])[:left]:
        counts[name] += 1
    counts[output] = out_count
    return counts


@torch.no_grad()
def prune_masks(
    weights: Mapping[str, Tensor],
    counts: Mapping[str, int],
    criterion: Criterion,
    scope: str,
    gates: Mapping[str, Tensor] | None = None,
    raw: Mapping[str, Tensor] | None = None,
) -> dict[str, Tensor]:
    """A 0/1 mask per layer that zeroes `counts[name]` weights of each layer (scope "layer"),
    or `sum(counts)` weights over all layers together ("global"), those the criterion ranks
    first (a gated criterion also reads `gates[name]` and, where given, `raw[name]`). A layer
    (or, global, a model) with nothing to prune is not scored at all, so a random criterion
    draws exactly what torch's pruning did (tests/test_catalog.py; with scope=global on a GPU,
    torch drew once for all layers, here each layer draws its own)."""
    if criterion.gated and gates is None:
        raise UsageError("a gated pruning criterion needs the parent's gates")
    masks = {n: torch.ones_like(w) for n, w in weights.items()}

    def score(name: str) -> Tensor:
        if criterion.gated:
            assert gates is not None
            return criterion.score(weights[name], gates[name], (raw or {}).get(name))
        return criterion.score(weights[name])

    def zero(flat_mask: Tensor, scores: Tensor, k: int) -> None:
        picked = torch.topk(scores.reshape(-1), k, largest=criterion.prune_highest).indices
        flat_mask[picked] = 0

    if scope == "global":
        total = sum(counts.values())
        if total:
            flat = torch.cat([m.reshape(-1) for m in masks.values()])
            zero(flat, torch.cat([score(name).reshape(-1) for name in weights]), total)
            sizes = [m.numel() for m in masks.values()]
            for (name, mask), part in zip(masks.items(), flat.split(sizes), strict=True):
                masks[name] = part.view_as(mask)
        return masks
    for name in weights:
        if counts.get(name, 0):
            zero(masks[name].view(-1), score(name), counts[name])
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


@torch.no_grad()
def gated_parent(
    config: Mapping[str, Any], model_state: Mapping[str, Tensor], run_dir: Path
) -> tuple[dict[str, Tensor], dict[str, Tensor], dict[str, Tensor]]:
    """A connection-gated run's exported network (a plain state dict whose switchable
    weights are W·G, `switcher.export`), its gates g and its weights W before gating per
    switched layer (float32, the final ones), rebuilt on the CPU from its `config.json` and
    checkpoint state.
    Draws from the global RNG (the model's init): restore the RNG afterwards."""
    from weightswitch.models import build_model
    from weightswitch.switcher import attach_switcher, export, switched_layers

    sw = config.get("switcher") or {}
    if sw.get("granularity") != "connection":
        raise UsageError(
            f"--init-from {run_dir}: gate ranking needs connection gates, that run has "
            f"{sw.get('granularity') or 'no switcher'}"
        )
    model = build_model(
        config["arch"],
        config["dataset"],
        fc_bias=bool(config.get("fc_bias")),
        fc_init=str(config.get("fc_init", "reference")),
        **(config.get("model") or {}),
    )
    attach_switcher(
        model,
        "connection",
        gate_net=sw.get("gate_net", "unet"),
        snn_input=sw.get("snn_input", "weights"),
        noise_std=0.0,
    )
    model.load_state_dict(dict(model_state))  # the noise image too (a buffer)
    layers = switched_layers(model)
    gates = {n: layer.gates().detach().float().clone() for n, layer in layers.items()}
    raw = {n: layer.weight.detach().float().clone() for n, layer in layers.items()}
    return export(model).state_dict(), gates, raw


def _same(a: Any, b: Any) -> bool:
    """Equal once both are plain JSON (a checkpoint keeps tuples, metrics.json lists)."""
    return json.dumps(a, sort_keys=True, default=str) == json.dumps(b, sort_keys=True, default=str)


def _parent_checkpoint(run_dir: Path, metrics: Mapping[str, Any]) -> dict[str, Any]:
    """The finished parent's checkpoint, verified (checksum, plain tensors only) and of the
    very run its metrics.json describes: a checkpoint copied in from another run would give
    the child another run's weights, history and lr under this parent's identity."""
    path = run_dir / CHECKPOINT
    redo = (
        f"retrain the parent (its pipeline stage: `dvc repro -f -s <its train stage>`, or "
        f"the `weightswitch train` command in its config.json with --force) or restore it "
        f"(`dvc checkout {run_dir}`)"
    )
    try:
        ckpt = checkpoint.load(path)
    except checkpoint.CheckpointDamaged as exc:
        why = str(exc).split(";")[0]
        raise UsageError(f"--init-from {run_dir}: {why}; {redo}") from None
    if not _same(ckpt.get("identity"), metrics.get("identity")):
        raise UsageError(
            f"--init-from {run_dir}: its checkpoint.pt belongs to another run "
            f"than its metrics.json (identities differ); {redo}"
        )
    return ckpt


class PruneMethod(Method):
    name = "prune"

    def __init__(self, cfg: Any) -> None:
        super().__init__(cfg)
        self.pr = cfg.prune
        self.criterion = get_criterion(self.pr.method)
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
        data = _read_json(run_dir / METRICS, "--match")
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

    def _load_parent(self, state: TrainState) -> None:
        """The finished parent run: its final (for a gated parent: exported, W·G) weights,
        history, step and RNG state; a gated parent's gates rank the connections."""
        run_dir = Path(self.pr.init_from)
        config = _read_json(run_dir / CONFIG, "--init-from")
        _check_same_model(config, self.cfg, "--init-from", run_dir)
        want = self.parent_method
        if config.get("method") != want:
            why = "" if want == "dense" else f" (method {self.cfg.method} prunes a {want} run)"
            raise UsageError(
                f"--init-from {run_dir} is a {config.get('method')!r} run, not {want}{why}"
            )
        metrics = _read_json(run_dir / METRICS, "--init-from")  # finished?
        ckpt = _parent_checkpoint(run_dir, metrics)
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
                f"criterion {self.pr.method!r} ranks gates: method "
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
            "criterion": self.pr.method,
            "allocation": self.pr.allocation,
            "output_layer": names[-1] if names else None,
            "layer_target_sparsity": {n: self.counts[n] / self.sizes[n] for n in self.counts},
        }
