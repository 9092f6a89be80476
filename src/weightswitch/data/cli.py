"""`weightswitch fetch DATASET`: download (or copy from a mirror), verify and prepare."""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from pathlib import Path

from weightswitch.data.mirrors import MIRROR_ENV
from weightswitch.options import add_options, option, read_options


def _non_negative(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


@dataclass(frozen=True)
class FetchOptions:
    """`fetch`'s options."""

    dataset: str = option("mnist, fashion_mnist, cifar10 or cifar100", positional=True)
    root: Path = option("data root (default: data)", default=Path("data"))
    mirror: Path | None = option(
        f"folder with the original archives; no network access (default: the folders of "
        f"${MIRROR_ENV}, separated by ':', then known system copies)",
        default=None,
    )
    val_size: int | None = option(
        "validation images carved from the training set (default: the registry's, 5000)",
        default=None,
        parse=_non_negative,
    )
    seed: int = option("seed of the validation split", default=0)


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
    add_options(p, FetchOptions)
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    from weightswitch.data.checksums import CHECKSUMS_ENV, load_extra_checksums
    from weightswitch.data.fetch import fetch

    options = read_options(args, FetchOptions)
    fetch(
        options.dataset,
        options.root,
        mirror=options.mirror,
        search=True,
        val_size=options.val_size,
        seed=options.seed,
        extra_checksums=load_extra_checksums(os.environ.get(CHECKSUMS_ENV)),
    )
    return 0
