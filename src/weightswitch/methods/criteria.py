"""What a pruning run zeroes: the criteria (plug-ins that score a layer's weights), how a
sparsity target is spread over the layers, and the masks (`methods.prune` applies them).

Allocation (`layer_counts`): "uniform" prunes every layer to `sparsity`; "output-denser"
prunes the output layer (the last switchable layer) to `output_ratio` x `sparsity` and the
other layers, at one common sparsity, to the rest, so that the FC layers together reach
`sparsity` (Han et al. 2015 keep the output layer denser); "global" ranks all switchable
layers together (one threshold), zeroing as many weights in total as "uniform" would.

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

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import torch
from torch import Tensor

from weightswitch.errors import UsageError, unknown_choice

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
