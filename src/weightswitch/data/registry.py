"""The datasets of the study: shapes, statistics, class names and upstream archives.

Archive names and MD5s are read from torchvision's own dataset classes (on first use, so
that importing the registry stays cheap: `fetch` decides "up to date" without torch), so
`fetch` checks exactly what torchvision's downloaders check. Extra known-good values are
recorded as the
SHA-256 of the *decompressed payload*: a re-packed mirror (e.g. Debian's
`dataset-fashion-mnist`, whose gzip wrappers differ from upstream) holds the same bytes
inside a different wrapper.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from functools import cache
from typing import Any

from weightswitch.errors import unknown_choice


@dataclass(frozen=True)
class Archive:
    """One upstream file as torchvision downloads it."""

    filename: str
    md5: str
    # SHA-256 of known-good decompressed payloads (re-packed mirrors of the same data).
    payload_sha256: tuple[str, ...] = ()


@dataclass(frozen=True)
class DatasetSpec:
    """Everything downstream code needs to know about a dataset, without reading it."""

    name: str
    torchvision_name: str  # class in torchvision.datasets that reads (and downloads) it
    channels: int
    height: int
    width: int
    num_classes: int
    class_names: tuple[str, ...]
    mean: tuple[float, ...]  # per channel, of the full upstream training set, in [0, 1] units
    std: tuple[float, ...]
    val_size: int  # carved from the training set by `fetch`
    augment: str  # "cifar" (random crop 32, padding 4 + horizontal flip) | "none"
    # (mean, std) the reference code normalises with; None: raw [0, 1] pixels
    reference_norm: tuple[tuple[float, ...], tuple[float, ...]] | None = None
    known_payloads: tuple[tuple[str, str], ...] = ()  # (archive file name, payload sha256)

    @property
    def shape(self) -> tuple[int, int, int]:
        return (self.channels, self.height, self.width)

    @property
    def torchvision_class(self) -> Any:
        return getattr(importlib.import_module("torchvision.datasets"), self.torchvision_name)

    @property
    def archives(self) -> tuple[Archive, ...]:
        """The upstream files, as torchvision's class names and checksums them."""
        return _archives(self.torchvision_name, self.known_payloads)


@cache
def _archives(torchvision_name: str, known_payloads: tuple) -> tuple[Archive, ...]:
    cls = getattr(importlib.import_module("torchvision.datasets"), torchvision_name)
    known: dict[str, list[str]] = {}
    for filename, sha in known_payloads:
        known.setdefault(filename, []).append(sha)
    # MNIST family: four gzipped IDX files; CIFAR: one tar.gz
    files = cls.resources if hasattr(cls, "resources") else [(cls.filename, cls.tgz_md5)]
    return tuple(Archive(name, md5, tuple(known.get(name, ()))) for name, md5 in files)


VAL_SIZE = 5000

# Debian's dataset-fashion-mnist: same IDX payloads as upstream, different gzip wrappers.
_FASHION_PAYLOAD_SHA256 = {
    "train-images-idx3-ubyte.gz": (
        "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888"
    ),
    "train-labels-idx1-ubyte.gz": (
        "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9"
    ),
    "t10k-images-idx3-ubyte.gz": (
        "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b"
    ),
    "t10k-labels-idx1-ubyte.gz": (
        "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34"
    ),
}

# Re-gzipped copies of upstream MNIST (the upstream payloads, other gzip wrappers).
_MNIST_PAYLOAD_SHA256 = {
    "train-images-idx3-ubyte.gz": (
        "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db"
    ),
    "train-labels-idx1-ubyte.gz": (
        "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5"
    ),
    "t10k-images-idx3-ubyte.gz": (
        "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7"
    ),
    "t10k-labels-idx1-ubyte.gz": (
        "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2"
    ),
}

# The reference code's CIFAR input normalisation (the same constants for CIFAR-10 and -100);
# it feeds MNIST as raw [0, 1] pixels.
_REFERENCE_CIFAR_NORM = (
    (125.3 / 255, 123.0 / 255, 113.9 / 255),
    (63.0 / 255, 62.1 / 255, 66.7 / 255),
)

# Class names as torchvision reports them (MNIST's and FashionMNIST's `classes` attributes;
# CIFAR's are read from the archive's meta file, these are its contents).
_DIGITS = "zero one two three four five six seven eight nine".split()  # noqa: SIM905
_MNIST_CLASSES = tuple(f"{i} - {word}" for i, word in enumerate(_DIGITS))
_FASHION_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
_CIFAR10_CLASSES = "airplane automobile bird cat deer dog frog horse ship truck".split()  # noqa: SIM905
_CIFAR100_CLASSES = (  # noqa: SIM905
    "apple aquarium_fish baby bear beaver bed bee beetle bicycle bottle bowl boy bridge bus "
    "butterfly camel can castle caterpillar cattle chair chimpanzee clock cloud cockroach couch "
    "crab crocodile cup dinosaur dolphin elephant flatfish forest fox girl hamster house kangaroo "
    "keyboard lamp lawn_mower leopard lion lizard lobster man maple_tree motorcycle mountain mouse "
    "mushroom oak_tree orange orchid otter palm_tree pear pickup_truck pine_tree plain plate poppy "
    "porcupine possum rabbit raccoon ray road rocket rose sea seal shark shrew skunk skyscraper "
    "snail snake spider squirrel streetcar sunflower sweet_pepper table tank telephone television "
    "tiger tractor train trout tulip turtle wardrobe whale willow_tree wolf woman worm"
).split()

DATASETS: dict[str, DatasetSpec] = {
    spec.name: spec
    for spec in (
        DatasetSpec(
            name="mnist",
            torchvision_name="MNIST",
            channels=1,
            height=28,
            width=28,
            num_classes=10,
            class_names=_MNIST_CLASSES,
            mean=(0.1307,),
            std=(0.3081,),
            val_size=VAL_SIZE,
            augment="none",
            known_payloads=tuple(_MNIST_PAYLOAD_SHA256.items()),
        ),
        DatasetSpec(
            name="fashion_mnist",
            torchvision_name="FashionMNIST",
            channels=1,
            height=28,
            width=28,
            num_classes=10,
            class_names=_FASHION_CLASSES,
            mean=(0.2860,),
            std=(0.3530,),
            val_size=VAL_SIZE,
            augment="none",
            known_payloads=tuple(_FASHION_PAYLOAD_SHA256.items()),
        ),
        DatasetSpec(
            name="cifar10",
            torchvision_name="CIFAR10",
            channels=3,
            height=32,
            width=32,
            num_classes=10,
            class_names=tuple(_CIFAR10_CLASSES),
            mean=(0.4914, 0.4822, 0.4465),
            std=(0.2470, 0.2435, 0.2616),
            val_size=VAL_SIZE,
            augment="cifar",
            reference_norm=_REFERENCE_CIFAR_NORM,
        ),
        DatasetSpec(
            name="cifar100",
            torchvision_name="CIFAR100",
            channels=3,
            height=32,
            width=32,
            num_classes=100,
            class_names=tuple(_CIFAR100_CLASSES),
            mean=(0.5071, 0.4865, 0.4409),
            std=(0.2673, 0.2564, 0.2762),
            val_size=VAL_SIZE,
            augment="cifar",
            reference_norm=_REFERENCE_CIFAR_NORM,
        ),
    )
}


INPUT_NORMS: tuple[str, ...] = ("reference", "dataset", "none")


def input_norm(spec: DatasetSpec, mode: str = "reference") -> tuple[tuple[float, ...], ...]:
    """(mean, std) applied to [0, 1] pixels: the reference code's choice (`reference`: raw
    pixels for the MNIST family, its constants for CIFAR), the dataset's own statistics
    (`dataset`), or nothing (`none`). Why an option: input scale changes how the switcher
    trains at the reference learning rate (docs/method.md)."""
    if mode not in INPUT_NORMS:
        raise unknown_choice("input normalisation", mode, INPUT_NORMS)
    identity = ((0.0,) * spec.channels, (1.0,) * spec.channels)
    if mode == "dataset":
        return spec.mean, spec.std
    if mode == "reference" and spec.reference_norm is not None:
        return spec.reference_norm
    return identity


def get_spec(name: str) -> DatasetSpec:
    """The spec of `name`; a `UsageError` listing the valid names otherwise."""
    try:
        return DATASETS[name]
    except KeyError:
        raise unknown_choice("dataset", name, DATASETS) from None
