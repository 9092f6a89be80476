"""Where an SNN step's time goes, per PyTorch operator (issue 11, item 3).

`weightswitch bench snn --breakdown` splits a step by SNN level; this splits it by operator
kind (convolution forward / backward, BatchNorm, max-pool, ReLU, concat, copies), which says
what an optimisation can win: the convolutions run in oneDNN, the rest is memory-bound glue
between them. One SNN (a weight image of the given size, connection gates), one thread, each
phase as the switcher trains it: TNN (gradient to W and to the BatchNorm affine parameters,
conv kernels frozen) and SNN (gradient to every SNN parameter, W frozen).

    python studies/snn_op_profile.py --size 784 300 --steps 3
"""

from __future__ import annotations

import argparse
import collections
import time

import torch
from torch import nn
from torch.profiler import ProfilerActivity, profile

from weightswitch.switcher.unet import SwitcherNet

# operator name prefix -> reported group
GROUPS = (
    ("aten::mkldnn_convolution", "conv forward"),
    ("aten::convolution_backward", "conv backward"),
    ("aten::_convolution", "conv glue (layout, transposed conv)"),
    ("aten::native_batch_norm_backward", "BatchNorm backward"),
    ("aten::native_batch_norm", "BatchNorm forward"),
    ("aten::max_pool2d", "max-pool (fwd + bwd)"),
    ("aten::threshold_backward", "ReLU backward"),
    ("aten::clamp_min", "ReLU forward"),
    ("aten::relu", "ReLU forward"),
    ("aten::cat", "concat"),
    ("aten::copy_", "copies"),
)


def group_of(name: str) -> str:
    return next((g for prefix, g in GROUPS if name.startswith(prefix)), "other")


def setup(height: int, width: int, phase: str) -> tuple[nn.Module, torch.Tensor]:
    torch.manual_seed(0)
    snn = SwitcherNet(height, width)  # image in x out = height x width
    weight = torch.randn(width, height) * 0.01
    if phase == "tnn":
        weight.requires_grad_(True)
        for m in snn.modules():
            if isinstance(m, nn.Conv2d | nn.ConvTranspose2d):
                m.weight.requires_grad_(False)
    return snn, weight


def step(snn: nn.Module, weight: torch.Tensor, probe: torch.Tensor) -> None:
    """One training step's gate computation: forward, and backward of a fixed linear loss."""
    snn.zero_grad(set_to_none=True)
    weight.grad = None
    (snn(weight) * probe).sum().backward()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, nargs=2, default=[784, 300], metavar=("IN", "OUT"))
    ap.add_argument("--steps", type=int, default=3)
    args = ap.parse_args()
    torch.set_num_threads(1)
    print(
        f"SNN of a {args.size[0]}x{args.size[1]} weight image (in x out), 1 thread, "
        f"{args.steps} steps per phase; self CPU time per operator group"
    )
    for phase in ("tnn", "snn"):
        snn, weight = setup(*args.size, phase)
        probe = torch.linspace(-1, 1, weight.numel()).view_as(weight)
        step(snn, weight, probe)  # warm-up
        start = time.thread_time()
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            for _ in range(args.steps):
                step(snn, weight, probe)
        wall = (time.thread_time() - start) / args.steps * 1000
        totals: dict[str, float] = collections.defaultdict(float)
        for event in prof.key_averages():
            totals[group_of(event.key)] += event.self_cpu_time_total / 1000 / args.steps
        total = sum(totals.values())
        # the profiler times wall clock (inflated on a loaded machine): read the shares
        print(
            f"\n{phase.upper()} phase: {wall:.0f} ms CPU per step with the profiler on "
            f"({total:.0f} ms wall in operators)"
        )
        print("| operator group | ms per step | share |\n| --- | --- | --- |")
        for name, ms in sorted(totals.items(), key=lambda kv: -kv[1]):
            print(f"| {name} | {ms:.1f} | {100 * ms / total:.1f}% |")


if __name__ == "__main__":
    main()
