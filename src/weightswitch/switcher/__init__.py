"""The switcher: an SNN (U-Net) per switched FC layer that gates that layer's weights.

Public API: `attach_switcher`, `SwitchedLinear`, parameter groups, `gate_stats` and `export`.
"""

from weightswitch.switcher.attach import (
    attach_switcher,
    init_switched_weights,
    snn_norm_parameters,
    snn_parameters,
    switched_layers,
    switched_weights,
    task_parameters,
)
from weightswitch.switcher.export import export
from weightswitch.switcher.free import FreeGates
from weightswitch.switcher.layer import SwitchedLinear
from weightswitch.switcher.stats import fc_layers, gate_stats, sparsity_stats
from weightswitch.switcher.unet import GRANULARITIES, SwitcherNet, UNet, plan_levels

__all__ = [
    "GRANULARITIES",
    "FreeGates",
    "SwitchedLinear",
    "SwitcherNet",
    "UNet",
    "attach_switcher",
    "export",
    "fc_layers",
    "gate_stats",
    "init_switched_weights",
    "plan_levels",
    "snn_norm_parameters",
    "snn_parameters",
    "sparsity_stats",
    "switched_layers",
    "switched_weights",
    "task_parameters",
]
