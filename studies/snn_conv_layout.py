"""Would channels-last convolutions (BatchNorm kept in NCHW, for its accuracy) speed the SNN up?

The SNN's BatchNorms lose accuracy in channels-last on CPU (studies/snn_layout_accuracy.py),
so the only channels-last variant worth trying converts each convolution's input and kernel
to channels-last and its output back. Single convolutions of 8-16 channels at full resolution
are up to 2x faster in channels-last; this measures whether that survives the conversions,
for a whole SNN step per phase (TNN: gradient to W, conv kernels frozen; SNN: gradient to
every SNN parameter), one thread, CPU time.

    python studies/snn_conv_layout.py --sizes 784x300 300x100 800x500
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Iterator
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from snn_op_profile import setup  # studies/ is on sys.path when run as a script
from torch import nn

CL = torch.channels_last


@contextmanager
def channels_last_convs() -> Iterator[None]:
    """Every Conv2d / ConvTranspose2d runs channels-last, returning an NCHW tensor."""
    conv, tconv = nn.Conv2d._conv_forward, nn.ConvTranspose2d.forward

    def conv_cl(self: nn.Conv2d, x: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None):
        out = conv(self, x.contiguous(memory_format=CL), w.contiguous(memory_format=CL), b)
        return out.contiguous()

    def tconv_cl(self: nn.ConvTranspose2d, x: torch.Tensor, output_size: object = None):
        out = F.conv_transpose2d(
            x.contiguous(memory_format=CL),
            self.weight.contiguous(memory_format=CL),
            None,
            self.stride,
            self.padding,
            0,
            1,
            self.dilation,
        )
        return out.contiguous()

    nn.Conv2d._conv_forward, nn.ConvTranspose2d.forward = conv_cl, tconv_cl  # type: ignore[method-assign]
    try:
        yield
    finally:
        nn.Conv2d._conv_forward, nn.ConvTranspose2d.forward = conv, tconv  # type: ignore[method-assign]


def step_ms(height: int, width: int, phase: str, repeats: int) -> tuple[float, torch.Tensor]:
    snn, weight = setup(height, width, phase)  # the phase's gradients, as in snn_op_profile
    probe = torch.linspace(-1, 1, weight.numel()).view_as(weight)

    def step() -> torch.Tensor:
        snn.zero_grad(set_to_none=True)
        gates = snn(weight)
        (gates * probe).sum().backward()
        return gates.detach()

    gates = step()
    start = time.thread_time()
    for _ in range(repeats):
        step()
    return (time.thread_time() - start) / repeats * 1000, gates


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--sizes",
        nargs="+",
        default=["784x300", "300x100", "800x500"],
        help="weight images, in x out",
    )
    ap.add_argument("--repeats", type=int, default=4)
    args = ap.parse_args()
    torch.set_num_threads(1)
    print("| image (in x out) | phase | NCHW ms | channels-last convs ms | ratio | gate max diff |")
    print("| --- | --- | --- | --- | --- | --- |")
    for size in args.sizes:
        height, width = map(int, size.split("x"))
        for phase in ("tnn", "snn"):
            base, gates = step_ms(height, width, phase, args.repeats)
            with channels_last_convs():
                fast, gates_cl = step_ms(height, width, phase, args.repeats)
            diff = (gates - gates_cl).abs().max().item()
            print(
                f"| {size} | {phase.upper()} | {base:.0f} | {fast:.0f} | {fast / base:.2f} "
                f"| {diff:.1e} |"
            )


if __name__ == "__main__":
    main()
