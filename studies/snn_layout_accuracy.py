"""Why the SNN has no eager channels-last option (`switcher/speed.py`).

Computes the gates of one default-size SNN from W ~ N(0, 0.01) eagerly in float32 NCHW, in
float32 channels-last, and in float64 (the reference), and prints each float32 layout's largest
absolute gate error. On CPU, channels-last BatchNorm statistics are less accurate.

    python studies/snn_layout_accuracy.py --shape 784 300
"""

from __future__ import annotations

import argparse
import copy

import torch

from weightswitch.switcher import SwitcherNet


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", type=int, nargs=2, default=[784, 300], metavar=("IN", "OUT"))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    snn = SwitcherNet(*args.shape)
    weight = torch.randn(args.shape[1], args.shape[0]) * 0.01
    with torch.no_grad():
        exact = copy.deepcopy(snn).double()(weight.double())
        nets = {
            "nchw": snn,
            "channels_last": copy.deepcopy(snn).to(memory_format=torch.channels_last),
        }
        for name, net in nets.items():
            err = (net(weight).double() - exact).abs().max().item()
            print(
                f"{args.shape[0]}x{args.shape[1]} float32 {name:<13} max |gate - float64| {err:.2e}"
            )


if __name__ == "__main__":
    main()
