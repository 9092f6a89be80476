"""`FreeGates`: the `free-gates` ablation, gates without a switcher network (issue 12).

Each gate (a connection, or an input unit for the neuron granularity) owns one learnable
score. The gates are the SNN head's last two steps applied to that score map: a one-channel
BatchNorm over the map's own positions (the very `SelfNorm2d` of the U-Net and neuron heads,
same statistics in train and eval, learnable affine) and a ReLU. So the only difference to
the switcher is where the map comes from: free parameters instead of a U-Net reading W.

Scores start N(0, 1): the standardisation makes the initial gates the same in distribution
as the SNN's (about half exactly zero, the rest half-normal), and a unit scale keeps the
score gradient (which the standardisation divides by the map's std) of order one.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from weightswitch.switcher.unet import GRANULARITIES, SelfNorm2d


class GateHead(nn.Sequential):
    """The final normalisation + ReLU of every SNN head: [1, 1, H, W] map -> gates >= 0."""

    def __init__(self) -> None:
        super().__init__(SelfNorm2d(1), nn.ReLU())


class FreeGates(nn.Module):
    """Drop-in for `SwitcherNet` (same call, same output shapes) that ignores its input."""

    def __init__(self, in_features: int, out_features: int, granularity: str = "connection"):
        super().__init__()
        if granularity not in GRANULARITIES:
            from weightswitch.errors import unknown_choice

            raise unknown_choice("granularity", granularity, GRANULARITIES)
        self.in_features, self.out_features = in_features, out_features
        self.granularity = granularity
        # laid out as the SNN's image: in x out (connection) or one column of in (neuron)
        shape = (in_features, out_features if granularity == "connection" else 1)
        self.scores = nn.Parameter(torch.randn(shape))
        self.head = GateHead()

    def forward(self, weight: Tensor | None = None) -> Tensor:
        gates = self.head(self.scores[None, None])[0, 0]  # [in, out] or [in, 1]
        return gates.t() if self.granularity == "connection" else gates[:, 0]

    def macs(self) -> int:
        """No network: the normalisation costs a few operations per gate, no MACs."""
        return 0

    def extra_repr(self) -> str:
        return f"{tuple(self.scores.shape)} scores, granularity={self.granularity}"
