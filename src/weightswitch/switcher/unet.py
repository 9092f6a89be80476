"""The switcher network (SNN): one U-Net for a weight image of any size.

The weight matrix `W` (out x in) is read as a one-channel image laid out in x out (rows are input
units), as in the reference. The U-Net's depth adapts to that image (see `plan_levels`), and it
returns a non-negative gate map of exactly the image's size.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from weightswitch.catalog import GRANULARITIES

DEFAULT_WIDTHS: tuple[int, ...] = (8, 16, 32, 64, 128, 256)
DEFAULT_MIN_SIZE = 4
NEURON_HEAD_CHANNELS = 32


class SelfNorm2d(nn.BatchNorm2d):
    """BatchNorm that always normalises with the current input's statistics, in train and eval.

    The SNN sees a batch of one weight image, so batch statistics are the image's own. Keeping
    no running statistics makes evaluation gates identical to training gates (docs/design.md,
    "The switcher network"). It calls `torch.batch_norm` directly so that a single value per
    channel (a 1x1 matrix) is allowed: it normalises to 0, i.e. the output is the BN bias.
    """

    def __init__(self, num_features: int, eps: float = 1e-5) -> None:
        super().__init__(num_features, eps=eps, affine=True, track_running_stats=False)

    def forward(self, x: Tensor) -> Tensor:
        return torch.batch_norm(
            x, self.weight, self.bias, None, None, True, 0.0, self.eps, torch.backends.cudnn.enabled
        )


def conv_block(
    in_ch: int, out_ch: int, kernel: int | tuple[int, int] = 3, padding: int = 1
) -> nn.Sequential:
    """conv (no bias: the BN follows) -> self-normalising BN -> ReLU."""
    return nn.Sequential(
        nn.Conv2d(in_ch, out_ch, kernel, padding=padding, bias=False),
        SelfNorm2d(out_ch),
        nn.ReLU(inplace=True),
    )


@dataclass(frozen=True)
class AxisStep:
    """How one axis goes from one level to the next: max-pool (kernel, stride) and its inverse."""

    kernel: int
    stride: int
    up_kernel: int

    def down(self, n: int) -> int:
        return (n - self.kernel) // self.stride + 1

    @staticmethod
    def for_size(n: int, halve: bool) -> AxisStep:
        if halve:  # floor-halve; a 3-wide up-conv restores an odd size exactly
            return AxisStep(2, 2, 2 + n % 2)
        if n >= 2:  # not halved: 2-wide pool with stride 1 (n -> n-1), 2-wide up-conv
            return AxisStep(2, 1, 2)
        return AxisStep(1, 1, 1)


def plan_levels(
    height: int, width: int, max_depth: int = len(DEFAULT_WIDTHS), min_size: int = DEFAULT_MIN_SIZE
) -> list[tuple[tuple[int, int], tuple[AxisStep, AxisStep]]]:
    """Size of each U-Net level for a `height` x `width` image, and the step to the next level.

    Rule (inferred from the reference's SNN sizes, see below): an axis shorter than
    `4 * min_size` (16) cannot be halved twice and is *narrow* -- like the 10-unit class axis --
    and never halved: it is max-pooled 2-wide with stride 1 (shrinks by one; kernel 1 once it
    is 1 long). Every other axis is halved (floor) at each step. A level is added while fewer
    than `max_depth` exist and every non-narrow axis is still at least `2 * min_size` long, so
    depth follows the shorter non-narrow axis and no halved axis drops below `min_size`. A
    matrix with only narrow axes (7x3, 1x1) gets a single level (no pooling).

    With the defaults this reproduces the reference's level counts and parameter counts for
    512x10 (6 levels, 0.96 M), 800x500 (6, 1.03 M), 784x300 (6, 1.05 M), 300x100 (5, 0.27 M)
    and 100x10 (5, 0.24 M). Caveat of the narrow threshold: an axis of 15 does not limit depth
    while one of 16 does (1024x16 gets 3 levels, 1024x15 gets 6).
    """
    halved = (height >= 4 * min_size, width >= 4 * min_size)
    size = (height, width)
    plan = []
    while True:
        steps = (AxisStep.for_size(size[0], halved[0]), AxisStep.for_size(size[1], halved[1]))
        deeper = len(plan) + 1 < max_depth and any(halved)
        if deeper and all(n >= 2 * min_size for n, h in zip(size, halved, strict=True) if h):
            plan.append((size, steps))
            size = (steps[0].down(size[0]), steps[1].down(size[1]))
        else:
            return [*plan, (size, steps)]


class UNet(nn.Module):
    """U-Net over a [N, 1, H, W] image -> [N, 1, H, W] non-negative map.

    Encoder level i: conv3x3 -> BN -> ReLU with `widths[i]` channels; max-pool between levels.
    Decoder: transposed conv (the inverse of that pool, stride 2 on halved axes) -> BN -> ReLU,
    concat the encoder skip, conv3x3 -> BN -> ReLU. Head: conv3x3 to 1 channel -> BN(1) -> ReLU;
    the last BN standardises the map over its positions, so about half the gates start at 0.
    Built for one image size (the depth depends on it).
    """

    def __init__(
        self,
        height: int,
        width: int,
        widths: Sequence[int] = DEFAULT_WIDTHS,
        max_depth: int | None = None,
        min_size: int = DEFAULT_MIN_SIZE,
    ) -> None:
        super().__init__()
        depth = len(widths) if max_depth is None else min(max_depth, len(widths))
        if depth < 1 or min_size < 1:
            raise ValueError("the SNN needs at least one level and min_size >= 1")
        plan = plan_levels(height, width, depth, min_size)
        self.sizes = [size for size, _ in plan]
        steps = [step for _, step in plan[:-1]]
        widths = list(widths[: len(plan)])
        self.widths = tuple(widths)
        self.pools = nn.ModuleList(
            nn.MaxPool2d((sh.kernel, sw.kernel), (sh.stride, sw.stride)) for sh, sw in steps
        )
        self.encoders = nn.ModuleList(
            conv_block(c_in, c_out) for c_in, c_out in zip([1, *widths[:-1]], widths, strict=True)
        )
        self.ups = nn.ModuleList(
            nn.Sequential(
                nn.ConvTranspose2d(
                    widths[i + 1],
                    widths[i],
                    (sh.up_kernel, sw.up_kernel),
                    (sh.stride, sw.stride),
                    bias=False,
                ),
                SelfNorm2d(widths[i]),
                nn.ReLU(inplace=True),
            )
            for i, (sh, sw) in enumerate(steps)
        )
        self.decoders = nn.ModuleList(conv_block(2 * c, c) for c in widths[:-1])
        self.head = nn.Sequential(
            nn.Conv2d(widths[0], 1, 3, padding=1, bias=False), SelfNorm2d(1), nn.ReLU()
        )

    def forward(self, x: Tensor) -> Tensor:
        skips = []
        for i, encoder in enumerate(self.encoders):
            if i:
                x = self.pools[i - 1](x)
            x = encoder(x)
            skips.append(x)
        for i in reversed(range(len(self.ups))):
            x = self.decoders[i](torch.cat([skips[i], self.ups[i](x)], dim=1))
        return self.head(x)

    def macs(self) -> int:
        """Multiply-accumulates of one forward pass on one image (convs only)."""
        total = 0
        for i, (h, w) in enumerate(self.sizes):
            total += h * w * _conv_macs(self.encoders[i][0])
            if i < len(self.ups):
                h2, w2 = self.sizes[i + 1]
                total += h2 * w2 * _conv_macs(self.ups[i][0])  # scatter per input position
                total += h * w * _conv_macs(self.decoders[i][0])
        h, w = self.sizes[0]
        return total + h * w * _conv_macs(self.head[0])


def _conv_macs(conv: nn.Conv2d | nn.ConvTranspose2d) -> int:
    """MACs per output position (conv) or per input position (transposed conv)."""
    return conv.weight.numel() // conv.groups


class NeuronHead(nn.Module):
    """[N, 1, in, out] gate map -> [N, in] gates, one per input unit (2110.05954).

    conv (1 x out) to 32 channels -> BN -> ReLU -> 1x1 conv to 1 -> BN -> ReLU; the last BN
    standardises over the input units, so about half of them start switched off.
    """

    def __init__(self, out_features: int, channels: int = NEURON_HEAD_CHANNELS) -> None:
        super().__init__()
        self.layers = nn.Sequential(
            conv_block(1, channels, (1, out_features), padding=0),
            nn.Conv2d(channels, 1, 1, bias=False),
            SelfNorm2d(1),
            nn.ReLU(),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.layers(x).flatten(1)

    def macs(self, in_features: int) -> int:
        return in_features * (_conv_macs(self.layers[0][0]) + _conv_macs(self.layers[1]))


class SwitcherNet(nn.Module):
    """The SNN of one switched layer: weight (out x in) -> gates (out x in, or [in] for neuron)."""

    def __init__(
        self,
        in_features: int,
        out_features: int,
        granularity: str = "connection",
        widths: Sequence[int] = DEFAULT_WIDTHS,
        max_depth: int | None = None,
        min_size: int = DEFAULT_MIN_SIZE,
        head_channels: int = NEURON_HEAD_CHANNELS,
    ) -> None:
        super().__init__()
        if granularity not in GRANULARITIES:
            from weightswitch.errors import unknown_choice

            raise unknown_choice("granularity", granularity, GRANULARITIES)
        self.in_features, self.out_features, self.granularity = (
            in_features,
            out_features,
            granularity,
        )
        self.unet = UNet(in_features, out_features, widths, max_depth, min_size)
        self.neuron_head = (
            NeuronHead(out_features, head_channels) if granularity == "neuron" else None
        )
        for m in self.modules():
            if isinstance(m, nn.Conv2d | nn.ConvTranspose2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, weight: Tensor) -> Tensor:
        gates = self.unet(weight.t()[None, None])  # [1, 1, in, out]
        if self.neuron_head is not None:
            return self.neuron_head(gates)[0]  # [in]
        return gates[0, 0].t()  # back to out x in

    def macs(self) -> int:
        """Multiply-accumulates of one gate computation."""
        head = 0 if self.neuron_head is None else self.neuron_head.macs(self.in_features)
        return self.unet.macs() + head

    def extra_repr(self) -> str:
        return f"{self.in_features}x{self.out_features} image, levels={self.unet.sizes}"
