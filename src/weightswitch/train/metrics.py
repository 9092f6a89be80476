"""Sparsity metrics, one definition for every method: `switcher.gate_stats`.

Sparsity is the fraction of exactly-zero EFFECTIVE weights of the FC layers the study
switches: `W * G` for a switched layer (the gates of the current weights, computed exactly as
in training and evaluation), the masked weight for a pruned layer, `W` for a plain one.
"""

from __future__ import annotations

from typing import Any

from torch import nn


def sparsity_metrics(model: nn.Module) -> dict[str, Any]:
    """The metrics.json sparsity/cost entries of `model` in its current state."""
    from weightswitch.switcher import gate_stats

    stats = gate_stats(model)
    return {
        "fc_sparsity": stats["fc_sparsity"],
        "layer_sparsity": stats["layer_sparsity"],
        "compression_ratio": stats["compression_ratio"],
        "fc_macs_removed": stats["fc_macs_removed"],
        "fc_weights": stats["fc_weights"],
        "snn_params": stats["snn_params"],
        "total_params": stats["total_params"],
        "nonzero_params": stats["nonzero_params"],
    }


def fc_sparsity(model: nn.Module) -> float:
    from weightswitch.switcher import gate_stats

    return float(gate_stats(model)["fc_sparsity"])
