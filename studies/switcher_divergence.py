"""Which training settings make the switcher's TNN phase diverge at the reference lr.

LeNet-300-100 with connection switchers trains its TNN phase (the gradient to W flowing
through the gate computation; the SNN's conv kernels frozen) at the reference settings: SGD
lr 0.1, batch 64, no momentum, switched weights ~ N(0, 0.01). Every combination of the three
differences found against the reference code is tried, plus any gradient clipping asked for:

- `snn_norm`: the SNNs' BatchNorm affine parameters train in the TNN phase (reference) or are
  frozen (this suite's earlier default);
- `input`: raw [0, 1] pixels (reference) or the dataset's mean/std;
- `fc_bias`: switched FC layers without (reference) or with a bias.

A run diverges when its loss is NaN/inf or above 1e3 (the training loop's rule). Prints one
row per setting. Measured results: docs/method.md.

    python studies/switcher_divergence.py --dataset fashion_mnist --steps 200
    python studies/switcher_divergence.py --grad-clip 1.0     # adds clipped variants
"""

from __future__ import annotations

import argparse
import itertools
import math
import time

import torch
import torch.nn.functional as F

from weightswitch.data import get_spec, load_split
from weightswitch.data.registry import input_norm
from weightswitch.models import build_model
from weightswitch.switcher import (
    attach_switcher,
    init_switched_weights,
    snn_norm_parameters,
    snn_parameters,
    task_parameters,
)
from weightswitch.train.loop import EXPLODED_LOSS


def run(
    x: torch.Tensor,
    y: torch.Tensor,
    args: argparse.Namespace,
    *,
    snn_norm: bool,
    dataset_norm: bool,
    fc_bias: bool,
    clip: float | None,
) -> dict[str, object]:
    """Train `args.steps` TNN-phase steps; the loss trajectory's summary."""
    torch.manual_seed(args.seed)
    spec = get_spec(args.dataset)
    mean, std = input_norm(spec, "dataset" if dataset_norm else "reference")
    inputs = (x.float() / 255 - mean[0]) / std[0]
    model = build_model("lenet300", args.dataset, fc_bias=fc_bias)
    attach_switcher(model, granularity="connection")
    init_switched_weights(model)
    for p in snn_parameters(model):
        p.requires_grad_(False)
    params = task_parameters(model)
    if snn_norm:
        for p in snn_norm_parameters(model):
            p.requires_grad_(True)
        params += snn_norm_parameters(model)
    opt = torch.optim.SGD(params, lr=args.lr)
    gen = torch.Generator().manual_seed(args.seed)
    losses: list[float] = []
    for step in range(1, args.steps + 1):
        i = torch.randint(0, len(y), (args.batch_size,), generator=gen)
        loss = F.cross_entropy(model(inputs[i]), y[i])
        opt.zero_grad()
        loss.backward()
        if clip:
            torch.nn.utils.clip_grad_norm_(params, clip)
        opt.step()
        losses.append(loss.item())
        if not math.isfinite(losses[-1]) or losses[-1] > EXPLODED_LOSS:
            return {"diverged": f"yes, step {step}", "last": losses[-1], "max": max(losses)}
    tail = losses[-20:]
    return {"diverged": "no", "last": sum(tail) / len(tail), "max": max(losses)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", default="data", help="prepared data root")
    ap.add_argument("--dataset", default="fashion_mnist", choices=["mnist", "fashion_mnist"])
    ap.add_argument("--lr", type=float, default=0.1)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--grad-clip", type=float, default=None, help="also try clipped variants")
    args = ap.parse_args()
    x, y = load_split(args.root, args.dataset, "train", limit=20000)
    clips = [None] if args.grad_clip is None else [None, args.grad_clip]
    print(
        f"# {args.dataset}, lenet300 connection switchers, TNN phase, SGD lr {args.lr}, "
        f"batch {args.batch_size}, {args.steps} steps, seed {args.seed}"
    )
    print(
        "| SNN BN affine in TNN phase | input | FC bias | grad clip | diverges | "
        "loss (last 20 steps) | max loss |\n|---|---|---|---|---|---|---|"
    )
    for snn_norm, dataset_norm, fc_bias, clip in itertools.product(
        (True, False), (False, True), (False, True), clips
    ):
        start = time.perf_counter()
        r = run(
            x, y, args, snn_norm=snn_norm, dataset_norm=dataset_norm, fc_bias=fc_bias, clip=clip
        )
        label = [
            "trains (ref)" if snn_norm else "frozen",
            "mean/std" if dataset_norm else "[0, 1] (ref)",
            "yes" if fc_bias else "no (ref)",
            "off" if clip is None else f"{clip:g}",
        ]
        print(
            f"| {' | '.join(label)} | {r['diverged']} | {r['last']:.4g} | {r['max']:.4g} |"
            f"  <!-- {time.perf_counter() - start:.0f} s -->",
            flush=True,
        )


if __name__ == "__main__":
    main()
