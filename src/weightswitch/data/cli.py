"""`weightswitch fetch DATASET`: download (or copy from a mirror), verify and prepare."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

MIRROR_ENV = "WEIGHTSWITCH_MIRROR"


def _non_negative(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "fetch",
        help="download/verify/prepare a dataset",
        description="Get the original archives (torchvision's downloaders, or --mirror without "
        "network), verify their checksums, and write ROOT/DATASET/{train,val,test}.pt + "
        "manifest.json. Does nothing when the prepared files are already up to date. "
        "WEIGHTSWITCH_CHECKSUMS=FILE.json adds trusted checksums.",
    )
    p.add_argument("dataset", help="mnist, fashion_mnist, cifar10 or cifar100")
    p.add_argument("--root", type=Path, default=Path("data"), help="data root (default: data)")
    p.add_argument(
        "--mirror",
        type=Path,
        default=None,
        help=f"folder with the original archives; no network access (default: ${MIRROR_ENV})",
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

    mirror = args.mirror or os.environ.get(MIRROR_ENV) or None
    fetch(
        args.dataset,
        args.root,
        mirror=mirror,
        val_size=args.val_size,
        seed=args.seed,
        extra_checksums=load_extra_checksums(os.environ.get(CHECKSUMS_ENV)),
    )
    return 0
