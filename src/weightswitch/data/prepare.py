"""Archives -> verified -> parsed by torchvision -> train/val/test uint8 tensors + manifest.

The prepared folder is built in a temporary folder and renamed into place, so it is either
complete or absent. Its bytes are a pure function of the archives, `val_size` and `seed`.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import torch
from torch import Tensor

from weightswitch.data import sources
from weightswitch.data.checksums import ExtraChecksums, file_digest
from weightswitch.data.manifest import (
    FORMAT_VERSION,
    MANIFEST,
    PARTIAL,
    raw_root,
    write_stat_record,
)
from weightswitch.data.registry import DatasetSpec
from weightswitch.errors import UsageError


def split_train_val(n: int, val_size: int, seed: int) -> tuple[Tensor, Tensor]:
    """Sorted train and validation indices: the first `val_size` of a seeded permutation."""
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    return perm[val_size:].sort().values, perm[:val_size].sort().values


def _swap_into_place(tmp: Path, out: Path, raw: Path) -> None:
    if not out.exists():
        os.replace(tmp, out)
        return
    stale = Path(tempfile.mkdtemp(prefix=f"{PARTIAL}old-", dir=raw))
    os.replace(out, stale / out.name)
    os.replace(tmp, out)
    shutil.rmtree(stale)


def _write(
    spec: DatasetSpec, tmp: Path, tensors: dict[str, tuple[Tensor, Tensor]], header: dict
) -> dict:
    files = {}
    for split, (x, y) in tensors.items():
        path = tmp / f"{split}.pt"
        torch.save({"images": x.contiguous(), "labels": y.contiguous()}, path)
        files[path.name] = {"sha256": file_digest(path), "size": path.stat().st_size}
    manifest = {
        **header,
        "counts": {s: len(y) for s, (_, y) in tensors.items()},
        "class_counts": {
            s: torch.bincount(y, minlength=spec.num_classes).tolist()
            for s, (_, y) in tensors.items()
        },
        "files": files,
    }
    (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def prepare(
    spec: DatasetSpec,
    root: Path,
    *,
    val_size: int,
    seed: int,
    mirror: Path | None,
    extra: ExtraChecksums,
    log: Callable[[str], None],
) -> dict:
    """Do the work of `fetch` (the caller holds the lock); returns the manifest."""
    out, raw = root / spec.name, raw_root(root, spec.name)
    if mirror is not None:
        verified = sources.copy_from_mirror(spec, mirror, raw, extra, log)
    else:
        verified = sources.download(spec, raw, extra, log)
    sources.extract(spec, raw)
    log("extracted")
    splits, classes = sources.read(spec, raw, upstream=all(v.upstream for v in verified.values()))
    log("parsed with torchvision")

    images, labels = splits["train"]
    if val_size >= len(images):
        raise UsageError(f"--val-size {val_size} must be below the {len(images)} training images")
    train_idx, val_idx = split_train_val(len(images), val_size, seed)
    tensors = {
        "train": (images[train_idx], labels[train_idx]),
        "val": (images[val_idx], labels[val_idx]),
        "test": splits["test"],
    }
    header = {
        "format": FORMAT_VERSION,
        "dataset": spec.name,
        "shape": list(spec.shape),
        "num_classes": spec.num_classes,
        "class_names": classes,
        "split": {"source": "train", "val_size": val_size, "seed": seed},
        "inputs": {a.filename: verified[a.filename].as_dict() for a in spec.archives},
    }
    work = Path(tempfile.mkdtemp(prefix=f"{PARTIAL}{spec.name}-", dir=raw))
    try:
        (work / spec.name).mkdir()  # renamed to ROOT/NAME once complete
        manifest = _write(spec, work / spec.name, tensors, header)
        _swap_into_place(work / spec.name, out, raw)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    write_stat_record(raw, out, manifest["files"])
    c = manifest["counts"]
    log(f"wrote {out}: {c['train']} train, {c['val']} val, {c['test']} test images")
    return manifest
