"""Tiny fake datasets written in the exact upstream on-disk formats torchvision reads.

- MNIST / Fashion-MNIST: gzipped IDX files with the upstream names.
- CIFAR-10 / CIFAR-100: `tar.gz` of python pickles (`cifar-10-batches-py/data_batch_1..5`,
  `test_batch`, `batches.meta`; `cifar-100-python/train`, `test`, `meta`).

Images are learnable: each class has a fixed smooth, left-right symmetric prototype (so
random crops and flips keep it recognisable), plus noise. Files are byte-deterministic for a
given seed (gzip and tar timestamps are zeroed). Every writer returns `{file name: md5}`.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import pickle
import struct
import tarfile
import zlib
from pathlib import Path

import numpy as np

from weightswitch.data.registry import get_spec

TRAIN_SIZE = 500
TEST_SIZE = 100
DATASET_NAMES = ("mnist", "fashion_mnist", "cifar10", "cifar100")
IDX_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}


def md5(path: Path) -> str:
    return hashlib.md5(Path(path).read_bytes()).hexdigest()


def _prototypes(name: str, num_classes: int, shape: tuple[int, int, int]) -> np.ndarray:
    """One smooth symmetric pattern per class: a 4x4 grid per channel, upsampled."""
    c, h, w = shape
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    grid = rng.uniform(0, 255, size=(num_classes, c, 4, 2))
    grid = np.concatenate([grid, grid[..., ::-1]], axis=-1)  # mirror: flip-invariant
    return grid.repeat(-(-h // 4), axis=2)[:, :, :h].repeat(-(-w // 4), axis=3)[..., :w]


def make_split(
    name: str, n: int, seed: int, num_classes: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """uint8 images [n, C, H, W] and balanced int labels [n] of dataset `name`."""
    spec = get_spec(name)
    k = num_classes or spec.num_classes
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(n) % k)
    protos = _prototypes(name, k, spec.shape)
    noise = rng.uniform(0, 255, size=(n, *spec.shape))
    images = 0.7 * protos[labels] + 0.3 * noise
    return images.round().clip(0, 255).astype(np.uint8), labels.astype(np.int64)


def _gzip_bytes(data: bytes) -> bytes:
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=0) as f:
        f.write(data)
    return buf.getvalue()


def write_idx(
    name: str, folder: Path, train: int = TRAIN_SIZE, test: int = TEST_SIZE, seed: int = 0
) -> dict[str, str]:
    """MNIST-family IDX `.gz` files (magic 0x803 images / 0x801 labels, big-endian sizes)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for i, (split, n) in enumerate((("train", train), ("test", test))):
        images, labels = make_split(name, n, seed + i)
        image_file, label_file = IDX_FILES[split]
        _, h, w = images.shape[1:]
        payloads = {
            image_file: struct.pack(">IIII", 0x803, n, h, w) + images[:, 0].tobytes(),
            label_file: struct.pack(">II", 0x801, n) + labels.astype(np.uint8).tobytes(),
        }
        for fname, payload in payloads.items():
            (folder / fname).write_bytes(_gzip_bytes(payload))
            out[fname] = md5(folder / fname)
    return out


def _add(tar: tarfile.TarFile, arcname: str, data: bytes) -> None:
    info = tarfile.TarInfo(arcname)
    info.size, info.mtime, info.mode = len(data), 0, 0o644
    tar.addfile(info, io.BytesIO(data))


def _add_dir(tar: tarfile.TarFile, arcname: str) -> None:
    info = tarfile.TarInfo(arcname)
    info.type, info.mtime, info.mode = tarfile.DIRTYPE, 0, 0o755
    tar.addfile(info)


def _pickle(obj: dict) -> bytes:
    return pickle.dumps(obj, protocol=2)  # the upstream files are protocol-2 pickles


def _batch(images: np.ndarray, labels: np.ndarray, label_key: str, title: str, tag: str) -> dict:
    return {
        "batch_label": title,
        label_key: labels.tolist(),
        "data": images.reshape(len(images), -1),  # row = 1024 R, 1024 G, 1024 B values
        "filenames": [f"{tag}_{i:05d}.png" for i in range(len(images))],
    }


def write_cifar(
    name: str, folder: Path, train: int = TRAIN_SIZE, test: int = TEST_SIZE, seed: int = 0
) -> dict[str, str]:
    """`cifar-10-python.tar.gz` or `cifar-100-python.tar.gz` with upstream member layout."""
    spec = get_spec(name)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tr_x, tr_y = make_split(name, train, seed)
    te_x, te_y = make_split(name, test, seed + 1)
    members: dict[str, bytes] = {}
    if name == "cifar10":
        base = "cifar-10-batches-py"
        for i, (x, y) in enumerate(
            zip(np.array_split(tr_x, 5), np.array_split(tr_y, 5), strict=True), 1
        ):
            batch = _batch(x, y, "labels", f"training batch {i} of 5", "train")
            members[f"data_batch_{i}"] = _pickle(batch)
        members["test_batch"] = _pickle(_batch(te_x, te_y, "labels", "testing batch 1 of 1", "t"))
        meta = {"num_cases_per_batch": -(-train // 5), "label_names": list(spec.class_names)}
        members["batches.meta"] = _pickle({**meta, "num_vis": 3072})
        members["readme.html"] = b"<html>fake CIFAR-10 for tests</html>\n"
    else:
        base = "cifar-100-python"
        for split, x, y in (("train", tr_x, tr_y), ("test", te_x, te_y)):
            batch = _batch(x, y, "fine_labels", split, split)
            batch["coarse_labels"] = (y // 5).tolist()
            members[split] = _pickle(batch)
        coarse = [f"superclass_{i}" for i in range(20)]
        members["meta"] = _pickle(
            {"fine_label_names": list(spec.class_names), "coarse_label_names": coarse}
        )
        members["file.txt~"] = b""
    archive = folder / spec.archives[0].filename
    with (
        open(archive, "wb") as raw,
        gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as gz,
        tarfile.open(fileobj=gz, mode="w", format=tarfile.GNU_FORMAT) as tar,
    ):
        _add_dir(tar, base)
        for member, data in members.items():
            _add(tar, f"{base}/{member}", data)
    return {archive.name: md5(archive)}


def write_dataset(name: str, folder: Path, **kwargs) -> dict[str, str]:
    """Write the fake archives of dataset `name` into `folder`; returns `{file name: md5}`."""
    if name in ("mnist", "fashion_mnist"):
        return write_idx(name, folder, **kwargs)
    return write_cifar(name, folder, **kwargs)


def write_mirror(
    folder: Path, names: tuple[str, ...] = DATASET_NAMES, **kwargs
) -> dict[str, dict[str, str]]:
    """A mirror with one subfolder per dataset (MNIST and Fashion-MNIST share file names)."""
    return {name: write_dataset(name, Path(folder) / name, **kwargs) for name in names}


def write_checksums_json(path: Path, checksums: dict[str, dict[str, str]]) -> Path:
    """The `WEIGHTSWITCH_CHECKSUMS` file trusting the fake archives: `{"NAME/file": md5}`."""
    flat = {f"{name}/{f}": h for name, files in checksums.items() for f, h in files.items()}
    Path(path).write_text(json.dumps(flat, indent=2, sort_keys=True) + "\n")
    return Path(path)
