"""`weightswitch bench data`: our `BatchIterator` vs torchvision's DataLoader pipeline.

Both read the same CIFAR-format images and produce the same thing: shuffled, randomly
cropped (32, padding 4) and flipped, normalised float batches. The baseline is the standard
recipe (CIFAR10 dataset -> PIL -> RandomCrop, RandomHorizontalFlip, ToTensor, Normalize in
DataLoader worker processes). Timing starts after one warm-up epoch each; the baseline's
workers are persistent, so their start-up is not counted against it.

Our iterator runs with one intra-op thread by default (`--threads`): on a small machine
shared with other work, OpenMP threads that outnumber the free cores make every op wait
for a descheduled thread, which can cost more than the work itself.
"""

from __future__ import annotations

import pickle
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader
from torchvision import transforms
from torchvision.datasets import CIFAR10, VisionDataset

from weightswitch.data.iterator import BatchIterator
from weightswitch.data.registry import get_spec
from weightswitch.data.sources import loader_class
from weightswitch.data.splits import load_split
from weightswitch.options import option


@dataclass(frozen=True)
class Options:
    """`bench data`'s options."""

    root: Path | None = option(
        "prepared data root holding cifar10 (its train "
        "split is used); default: a synthetic CIFAR-10-format set in a temporary folder",
        default=None,
    )
    num_images: int = option("synthetic set size", default=10_000)
    batch_size: int = option(default=128)
    workers: int = option("DataLoader worker processes", default=2)
    epochs: int = option("timed epochs (after a warm-up)", default=2)
    device: str = option("device of our iterator's batches", default="cpu")
    threads: int = option(
        "torch intra-op threads for our iterator (default 1, like each DataLoader worker; "
        "more threads only pay off on an otherwise idle machine)",
        default=1,
    )
    seed: int = option(default=0)


class _ArrayCIFAR10(CIFAR10):
    """torchvision's CIFAR10 (its `__getitem__`: PIL image + transform) over given arrays."""

    def __init__(self, images_hwc: np.ndarray, targets: list[int], transform) -> None:
        VisionDataset.__init__(self, root=None, transform=transform)
        self.data, self.targets = images_hwc, targets


def write_synthetic_cifar10(folder: Path, n: int, seed: int = 0) -> Path:
    """Random images as a `cifar-10-batches-py` folder (pickled batches + meta)."""
    rng = np.random.default_rng(seed)
    base = folder / CIFAR10.base_folder
    base.mkdir(parents=True)
    data = rng.integers(0, 256, size=(n, 3 * 32 * 32), dtype=np.uint8)
    labels = rng.integers(0, 10, size=n).tolist()
    batches = [name for name, _ in CIFAR10.train_list]
    for i, (name, idx) in enumerate(zip(batches, np.array_split(np.arange(n), 5), strict=True)):
        batch = {"batch_label": f"synthetic batch {i + 1} of 5", "data": data[idx]}
        batch["labels"] = [labels[j] for j in idx]
        (base / name).write_bytes(pickle.dumps(batch, protocol=2))
    (base / CIFAR10.test_list[0][0]).write_bytes(
        pickle.dumps({"data": data[:1], "labels": labels[:1]}, protocol=2)
    )
    meta = {"label_names": list(get_spec("cifar10").class_names)}
    (base / CIFAR10.meta["filename"]).write_bytes(pickle.dumps(meta, protocol=2))
    return folder


def _time_epochs(make_epoch, epochs: int, device: str = "cpu") -> tuple[float, int]:
    """Seconds and images of `epochs` full passes, after one untimed warm-up pass."""
    sync = torch.cuda.synchronize if torch.device(device).type == "cuda" else lambda: None
    for _ in make_epoch(-1):
        pass
    sync()
    images, start = 0, time.perf_counter()
    for epoch in range(epochs):
        for x, _ in make_epoch(epoch):
            images += len(x)
    sync()
    return time.perf_counter() - start, images


def run(options: Options) -> int:
    """Print the throughput table and ratio; returns the exit code (0)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(options.threads)
    try:
        return _run(options)
    finally:
        torch.set_num_threads(threads)


def _run(options: Options) -> int:
    spec = get_spec("cifar10")
    with tempfile.TemporaryDirectory(prefix="ws-bench-data-") as tmp:
        if options.root is None:
            folder = write_synthetic_cifar10(Path(tmp), options.num_images, options.seed)
            ds = loader_class(spec, upstream=False)(str(folder), train=True)
            source = f"synthetic CIFAR-10 format, {len(ds)} images"
            images = torch.from_numpy(ds.data).permute(0, 3, 1, 2).contiguous()
            labels = torch.as_tensor(ds.targets)
        else:
            images, labels = load_split(options.root, "cifar10", "train")
            source = f"{options.root}/cifar10 train split, {len(images)} images"
        baseline = _ArrayCIFAR10(
            images.permute(0, 2, 3, 1).numpy(),
            labels.tolist(),
            transforms.Compose(
                [
                    transforms.RandomCrop(32, padding=4),
                    transforms.RandomHorizontalFlip(),
                    transforms.ToTensor(),
                    transforms.Normalize(spec.mean, spec.std),
                ]
            ),
        )
        loader = DataLoader(
            baseline,
            batch_size=options.batch_size,
            shuffle=True,
            num_workers=options.workers,
            persistent_workers=options.workers > 0,
            generator=torch.Generator().manual_seed(options.seed),
        )
        ours = BatchIterator(
            images,
            labels,
            spec,
            options.batch_size,
            shuffle=True,
            augment=True,
            device=options.device,
            seed=options.seed,
        )

        def our_epoch(epoch: int) -> Iterable:
            ours.set_epoch(epoch)
            return ours

        results = {
            "torchvision DataLoader": _time_epochs(lambda epoch: loader, options.epochs),
            "weightswitch BatchIterator": _time_epochs(our_epoch, options.epochs, options.device),
        }
    rates = {name: n / s for name, (s, n) in results.items()}
    print(
        f"data pipeline throughput: {source}, batch {options.batch_size}, {options.epochs} epochs"
    )
    print(f"{'pipeline':<28} {'images/s':>12} {'s/epoch':>9}")
    for name, (seconds, _) in results.items():
        print(f"{name:<28} {rates[name]:>12,.0f} {seconds / options.epochs:>9.3f}")
    base = f"{options.workers} workers" if options.workers else "in-process"
    ratio = rates["weightswitch BatchIterator"] / rates["torchvision DataLoader"]
    ours_on = f"{options.device}, {torch.get_num_threads()} threads"
    print(f"ratio: {ratio:.1f}x (BatchIterator on {ours_on}; DataLoader, {base})")
    return 0
