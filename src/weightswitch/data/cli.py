"""`weightswitch fetch DATASET`: download (or copy from a mirror), verify and prepare."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from weightswitch.data.mirrors import MIRROR_ENV


def _non_negative(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "fetch",
        help="download/verify/prepare a dataset",
        description="Get the original archives, verify their checksums, and write "
        "ROOT/DATASET/{train,val,test}.pt + manifest.json. Archives come from --mirror DIR, else "
        f"the first local copy that holds them (a folder of ${MIRROR_ENV}, then the folder a "
        "system package installs, e.g. Debian's dataset-fashion-mnist in "
        "/usr/share/datasets/fashion-mnist), else torchvision's downloaders. Does nothing when "
        "the prepared files are already up to date. WEIGHTSWITCH_CHECKSUMS=FILE.json adds "
        "trusted checksums.",
    )
    p.add_argument("dataset", help="mnist, fashion_mnist, cifar10 or cifar100")
    p.add_argument("--root", type=Path, default=Path("data"), help="data root (default: data)")
    p.add_argument(
        "--mirror",
        type=Path,
        default=None,
        help=f"folder with the original archives; no network access (default: the folders of "
        f"${MIRROR_ENV}, separated by ':', then known system copies)",
    )
    p.add_argument(
        "--val-size",
        type=_non_negative,
        default=None,
        help="validation images carved from the training set (default: the registry's, 5000)",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the validation split")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    from weightswitch.data.checksums import CHECKSUMS_ENV, load_extra_checksums
    from weightswitch.data.fetch import fetch

    fetch(
        args.dataset,
        args.root,
        mirror=args.mirror,
        search=True,
        val_size=args.val_size,
        seed=args.seed,
        extra_checksums=load_extra_checksums(os.environ.get(CHECKSUMS_ENV)),
    )
    return 0
