"""Put switchers on a model's FC layers, and the parameter groups the alternating method needs."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import torch
from torch import nn

from weightswitch.errors import UsageError, unknown_choice
from weightswitch.switcher.layer import SwitchedLinear
from weightswitch.switcher.unet import GRANULARITIES


def attach_switcher(
    model: nn.Module,
    granularity: str = "connection",
    layers: Iterable[str] | None = None,
    *,
    gate_net: str = "unet",
    snn_input: str = "weights",
    noise_seed: int = 0,
    noise_std: float | Mapping[str, float] | None = None,
    **snn_kwargs: Any,
) -> nn.Module:
    """Replace the named `nn.Linear` layers (default `model.switchable`) in place.

    Each becomes a `SwitchedLinear` holding the same weight and bias Parameters plus its own
    SNN (`gate_net="free"`: free scores instead, see `FreeGates`). `snn_kwargs` go to
    `SwitcherNet` (widths, max_depth, min_size, head_channels).
    `snn_input="noise"`: each layer's SNN reads a fixed N(0, std^2) image of W's shape, drawn
    layer after layer from one CPU generator seeded with `noise_seed`; std is `noise_std`
    (per layer name, or one value), by default the std of W as it is now.
    Returns `model`.
    """
    if granularity not in GRANULARITIES:
        raise unknown_choice("granularity", granularity, GRANULARITIES)
    names = list(getattr(model, "switchable", ()) if layers is None else layers)
    if not names:
        raise UsageError("no layers to switch: the model names none in `switchable`")
    generator = torch.Generator().manual_seed(noise_seed)
    for name in names:
        try:
            module = model.get_submodule(name)
        except AttributeError:
            raise unknown_choice("layer", name, _linear_names(model)) from None
        if not isinstance(module, nn.Linear):
            kind = type(module).__name__
            raise UsageError(
                f"layer {name!r} is a {kind}, not an nn.Linear; "
                f"switchable layers: {', '.join(_linear_names(model))}"
            )
        layer = SwitchedLinear.from_linear(
            module, granularity, gate_net=gate_net, snn_input=snn_input, **snn_kwargs
        )
        if snn_input == "noise":
            std = noise_std.get(name) if isinstance(noise_std, Mapping) else noise_std
            layer.draw_noise(float(module.weight.detach().std()) if std is None else std, generator)
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, child, layer)
    return model


def _linear_names(model: nn.Module) -> list[str]:
    return [n for n, m in model.named_modules() if isinstance(m, nn.Linear)]


def switched_layers(model: nn.Module) -> dict[str, SwitchedLinear]:
    """Switched layers by dotted name, in module order."""
    return {n: m for n, m in model.named_modules() if isinstance(m, SwitchedLinear)}


def snn_parameters(model: nn.Module) -> list[nn.Parameter]:
    """Parameters of every SNN (what the SNN phase trains)."""
    return [p for layer in switched_layers(model).values() for p in layer.snn.parameters()]


def snn_norm_parameters(model: nn.Module) -> list[nn.Parameter]:
    """Affine parameters (weight, bias) of every normalisation layer inside the SNNs: what the
    reference also trains in TNN phases."""
    norms = (nn.modules.batchnorm._NormBase, nn.GroupNorm, nn.LayerNorm)
    return [
        p
        for layer in switched_layers(model).values()
        for m in layer.snn.modules()
        if isinstance(m, norms)
        for p in m.parameters(recurse=False)
    ]


def switched_weights(model: nn.Module) -> list[nn.Parameter]:
    """W and b of the switched layers."""
    layers = switched_layers(model).values()
    return [p for layer in layers for p in (layer.weight, layer.bias) if p is not None]


def task_parameters(model: nn.Module) -> list[nn.Parameter]:
    """Every parameter of the task network, i.e. all but the SNNs'."""
    snn = {id(p) for p in snn_parameters(model)}
    return [p for p in model.parameters() if id(p) not in snn]


@torch.no_grad()
def init_switched_weights(model: nn.Module, std: float = 0.01) -> None:
    """Reference initialisation of switched FC layers: W ~ N(0, std), b = 0."""
    for layer in switched_layers(model).values():
        nn.init.normal_(layer.weight, 0.0, std)
        if layer.bias is not None:
            nn.init.zeros_(layer.bias)
