"""Turn a switched (or pruned) model into a plain model with its effective weights baked in."""

from __future__ import annotations

import copy

import torch
from torch import nn
from torch.nn.utils import prune

from weightswitch.switcher.attach import switched_layers
from weightswitch.switcher.stats import pruned_names

# Modules that act element by element: an FC output unit that goes through them feeds exactly
# one input unit of the next FC layer, so both can be removed together.
ELEMENTWISE = (
    nn.ReLU,
    nn.ReLU6,
    nn.LeakyReLU,
    nn.ELU,
    nn.GELU,
    nn.SiLU,
    nn.Sigmoid,
    nn.Tanh,
    nn.Dropout,
    nn.Identity,
)


@torch.no_grad()
def export(model: nn.Module) -> nn.Module:
    """A deep copy without SNNs or prune masks, computing the same function.

    Switched layers become `nn.Linear` with weight `W * G` (neuron gates folded into the
    columns). For neuron gates, input units whose gate is 0 are removed physically: the layer
    gets fewer inputs and, when the unit comes from an FC layer earlier in the same
    `nn.Sequential` through element-wise modules only (ReLU, Dropout, ...), that layer loses the
    matching output rows. Otherwise (the input comes from a conv/flatten, or the chain is not
    visible) the input dimension is kept and the unit's column is exactly zero.
    """
    # A pruned module's `weight` is a non-leaf tensor (weight_orig * mask) that deepcopy
    # refuses; hand it detached copies (prune.remove recomputes it from orig and mask anyway).
    memo = {
        id(t): t.detach().clone()
        for m in model.modules()
        for t in (getattr(m, name) for name in pruned_names(m))
        if not t.is_leaf
    }
    model = copy.deepcopy(model, memo)
    for module in model.modules():
        for name in pruned_names(module):
            prune.remove(module, name)
    layers = switched_layers(model)
    plain: dict[str, nn.Linear] = {}
    keep: dict[str, torch.Tensor] = {}
    for name, layer in layers.items():  # all gates first, from the untouched switched weights
        weight = layer.effective_weight().to(layer.weight.dtype)
        linear = nn.Linear(layer.in_features, layer.out_features, layer.bias is not None)
        linear.to(device=weight.device, dtype=weight.dtype).train(layer.training)
        linear.weight.copy_(weight)
        if layer.bias is not None:
            linear.bias.copy_(layer.bias)
        plain[name] = linear
        if layer.granularity == "neuron":
            keep[name] = (layer.gates() != 0).nonzero().flatten()
    for name, linear in plain.items():
        _replace(model, name, linear)
    for name, index in keep.items():
        previous = _previous_linear(model, name)
        if previous is None or len(index) == plain[name].in_features:
            continue
        _replace(model, name, _select(plain[name], index, dim=1))
        _replace(model, previous, _select(model.get_submodule(previous), index, dim=0))
    return model


def _replace(model: nn.Module, name: str, module: nn.Module) -> None:
    parent, _, child = name.rpartition(".")
    setattr(model.get_submodule(parent) if parent else model, child, module)


def _previous_linear(model: nn.Module, name: str) -> str | None:
    """Dotted name of the nn.Linear feeding `name` through element-wise modules, if visible."""
    parent_name, _, child = name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    if not isinstance(parent, nn.Sequential):
        return None
    names = list(parent._modules)
    for prev in reversed(names[: names.index(child)]):
        module = parent._modules[prev]
        if isinstance(module, nn.Linear):
            return f"{parent_name}.{prev}" if parent_name else prev
        if not isinstance(module, ELEMENTWISE):
            return None
    return None


def _select(linear: nn.Linear, index: torch.Tensor, dim: int) -> nn.Linear:
    """`linear` restricted to some inputs (dim=1) or outputs (dim=0, bias too)."""
    weight = linear.weight.index_select(dim, index)
    out = nn.Linear(weight.shape[1], weight.shape[0], linear.bias is not None)
    out.to(device=weight.device, dtype=weight.dtype).train(linear.training)
    out.weight.copy_(weight)
    if linear.bias is not None:
        out.bias.copy_(linear.bias if dim == 1 else linear.bias.index_select(0, index))
    return out
