"""Sparsity and cost statistics with the same keys for dense, pruned and switched models.

Effective weights: `W * G` for a switched layer, the masked `weight` for a layer pruned with
`torch.nn.utils.prune`, `weight` otherwise. Zeros are exact zeros of the effective weights.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.nn.utils import prune

from weightswitch.switcher.layer import SwitchedLinear


def pruned_names(module: nn.Module) -> list[str]:
    """Names of the tensors of `module` that torch.nn.utils.prune reparametrised."""
    names = []
    for hook in module._forward_pre_hooks.values():
        if isinstance(hook, prune.PruningContainer):
            names.extend(h._tensor_name for h in hook)
        elif isinstance(hook, prune.BasePruningMethod):
            names.append(hook._tensor_name)
    return names


def fc_layers(model: nn.Module) -> dict[str, nn.Module]:
    """The FC layers the statistics cover, in module order.

    `model.switchable` (dense models: the layers the study would switch), every switched layer
    and every pruned `nn.Linear` -- so a dense run, its pruned baselines and its switched run
    report the same layers.
    """
    wanted = set(getattr(model, "switchable", ()))
    return {
        name: m
        for name, m in model.named_modules()
        if isinstance(m, SwitchedLinear)
        or (isinstance(m, nn.Linear) and (name in wanted or pruned_names(m)))
    }


def _layer_stats(module: nn.Module) -> dict[str, Any]:
    if isinstance(module, SwitchedLinear):
        gates = module.gates().float()
        weight = module.weight * gates
        gate = {
            "gate_min": gates.min().item(),
            "gate_mean": gates.mean().item(),
            "gate_max": gates.max().item(),
            "gate_zero": int((gates == 0).sum().item()) / gates.numel(),
        }
        kind, granularity = "switched", module.granularity
        snn_params = sum(p.numel() for p in module.snn.parameters())
        snn_macs = module.snn.macs()
    else:
        weight = module.weight  # the masked weight for a pruned layer
        gate = dict.fromkeys(("gate_min", "gate_mean", "gate_max", "gate_zero"))
        kind = "pruned" if "weight" in pruned_names(module) else "dense"
        granularity, snn_params, snn_macs = None, 0, 0
    zero = int((weight == 0).sum().item())
    return {
        "kind": kind,
        "granularity": granularity,
        "in_features": module.in_features,
        "out_features": module.out_features,
        "weights": weight.numel(),
        "zero": zero,
        "sparsity": zero / weight.numel(),
        **gate,
        "snn_params": snn_params,
        "snn_macs": snn_macs,
    }


@torch.no_grad()
def gate_stats(model: nn.Module) -> dict[str, Any]:
    """Per-layer and overall sparsity, compression and SNN cost (JSON-friendly values).

    Per layer (`layers[name]`): kind ("dense" | "pruned" | "switched"), granularity, in/out
    features, weights, zero, sparsity, gate_min/mean/max and gate_zero (None without gates),
    snn_params, snn_macs (MACs of one gate computation).
    Overall: fc_weights, fc_zero, fc_sparsity, layer_sparsity {name: sparsity},
    fc_macs_removed (per-sample FC MACs removed = zero effective FC weights), snn_params,
    snn_macs, total_params (task network, SNNs excluded), zero_params, nonzero_params and
    compression_ratio = total_params / nonzero_params.
    """
    fcs = fc_layers(model)
    layers = {name: _layer_stats(m) for name, m in fcs.items()}
    fc_weights = sum(s["weights"] for s in layers.values())
    fc_zero = sum(s["zero"] for s in layers.values())
    # Zeros of pruned tensors outside the covered FC weights (e.g. a pruned conv).
    other_zero = sum(
        int((getattr(m, tensor) == 0).sum().item())
        for name, m in model.named_modules()
        for tensor in pruned_names(m)
        if not (name in fcs and tensor == "weight")
    )
    snn = {
        id(p) for m in model.modules() if isinstance(m, SwitchedLinear) for p in m.snn.parameters()
    }
    total = sum(p.numel() for p in model.parameters() if id(p) not in snn)
    nonzero = total - fc_zero - other_zero
    return {
        "layers": layers,
        "layer_sparsity": {name: s["sparsity"] for name, s in layers.items()},
        "fc_weights": fc_weights,
        "fc_zero": fc_zero,
        "fc_sparsity": fc_zero / fc_weights if fc_weights else 0.0,
        "fc_macs_removed": fc_zero,
        "snn_params": sum(s["snn_params"] for s in layers.values()),
        "snn_macs": sum(s["snn_macs"] for s in layers.values()),
        "total_params": total,
        "zero_params": fc_zero + other_zero,
        "nonzero_params": nonzero,
        "compression_ratio": total / nonzero if nonzero else float("inf"),
    }


sparsity_stats = gate_stats


@torch.no_grad()
def gate_weight_spearman(model: nn.Module) -> dict[str, float]:
    """Spearman rank correlation between each switched layer's gate g and |W| (average ranks
    for ties: about half the gates are exactly 0). Neuron gates are compared with the mean
    |W| of their input unit. It says how much of the gate is a function of the weight's size
    (the paper's "knowledge in the weights" versus a magnitude ranking in disguise)."""
    from scipy.stats import spearmanr

    out: dict[str, float] = {}
    for name, layer in model.named_modules():
        if not isinstance(layer, SwitchedLinear):
            continue
        g = layer.gates().detach().float().cpu()
        w = layer.weight.detach().float().abs().cpu()
        if g.shape != w.shape:  # neuron gates: one per input unit
            w = w.mean(dim=0)
        rho = spearmanr(g.flatten().numpy(), w.flatten().numpy()).statistic
        out[name] = float(rho) if rho == rho else float("nan")  # constant gates: undefined
    return out
