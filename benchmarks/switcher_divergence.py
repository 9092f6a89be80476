"""Why switcher runs clip the task network's gradient (docs/method.md, deviations).

Trains LeNet-300-100 with connection switchers, TNN phase only (SNN frozen, the gradient to W
flowing through the gate computation), at the reference settings: SGD lr 0.1, batch 64, switched
weights ~ N(0, 0.01). Prints the loss, the std of each switched W and its gradient norm.

    python benchmarks/switcher_divergence.py --steps 40                 # blows up
    python benchmarks/switcher_divergence.py --steps 600 --grad-clip 1  # trains
"""

from __future__ import annotations

import argparse

import torch
import torch.nn.functional as F

from weightswitch.data import get_spec, load_split
from weightswitch.models import build_model
from weightswitch.switcher import (
    attach_switcher,
    init_switched_weights,
    snn_parameters,
    switched_layers,
    task_parameters,
)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", default="data", help="prepared data root holding fashion_mnist")
    ap.add_argument("--lr", type=float, default=0.1)
    ap.add_argument("--grad-clip", type=float, default=None)
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--every", type=int, default=None, help="print every N steps")
    args = ap.parse_args()
    torch.manual_seed(0)
    spec = get_spec("fashion_mnist")
    x, y = load_split(args.root, "fashion_mnist", "train", limit=20000)
    x = (x.float() / 255 - spec.mean[0]) / spec.std[0]
    model = build_model("lenet300", "fashion_mnist")
    attach_switcher(model, granularity="connection")
    init_switched_weights(model)
    for p in snn_parameters(model):
        p.requires_grad_(False)
    layers = switched_layers(model)
    opt = torch.optim.SGD(task_parameters(model), lr=args.lr)
    gen = torch.Generator().manual_seed(0)
    every = args.every or max(1, args.steps // 10)
    for step in range(1, args.steps + 1):
        i = torch.randint(0, len(y), (64,), generator=gen)
        loss = F.cross_entropy(model(x[i]), y[i])
        opt.zero_grad()
        loss.backward()
        grad = {n: m.weight.grad.norm().item() for n, m in layers.items()}
        if args.grad_clip:
            torch.nn.utils.clip_grad_norm_(task_parameters(model), args.grad_clip)
        opt.step()
        if step % every == 0 or step == 1:
            std = " ".join(f"{n} {m.weight.std().item():.3g}" for n, m in layers.items())
            gn = " ".join(f"{n} {g:.3g}" for n, g in grad.items())
            print(f"step {step:4d}  loss {loss.item():.4g}  W std: {std}  grad norm: {gn}")


if __name__ == "__main__":
    main()
