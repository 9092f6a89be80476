"""Reading the splits `fetch` prepared: whole uint8 tensors, optionally a fixed subset."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import Tensor

from weightswitch import tensorfile
from weightswitch.data.manifest import MANIFEST, SPLITS, check_files, repair_command
from weightswitch.data.registry import get_spec
from weightswitch.errors import UsageError, WeightswitchError, unknown_choice


def split_path(root: str | Path, name: str, split: str) -> Path:
    if split not in SPLITS:
        raise unknown_choice("split", split, SPLITS)
    return Path(root) / name / f"{split}.pt"


def verify_split(root: str | Path, name: str, split: str) -> None:
    """Check a prepared split against the sha256 its manifest records, before anything
    trains on it: damage of any kind is one line naming the file and the repair command."""
    path = split_path(root, name, split)
    manifest_path = Path(root) / name / MANIFEST
    if not manifest_path.is_file() and not path.is_file():
        raise WeightswitchError(f"{path} not found; run: {repair_command(root, name)}")
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        entry = {path.name: manifest["files"][path.name]}
        settings = manifest.get("split")
        problem = check_files(root, name, entry)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        problem, settings = f"{manifest_path} is unreadable ({type(exc).__name__})", None
    if problem is not None:
        raise WeightswitchError(f"{problem}; repair: {repair_command(root, name, settings)}")


def balanced_subset(labels: Tensor, limit: int, seed: int = 0) -> Tensor:
    """Sorted indices of `limit` samples, taking classes in turn in a seeded random order.

    Every class gets `limit // num_classes` samples or all it has, so small training
    budgets (smoke runs) still see every class.
    """
    n = len(labels)
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    shuffled = labels[perm]
    order = torch.argsort(shuffled, stable=True)  # grouped by class, random within a class
    sorted_labels = shuffled[order]
    first = torch.searchsorted(sorted_labels, sorted_labels, side="left")
    rank = torch.empty(n, dtype=torch.int64)
    rank[order] = torch.arange(n) - first  # position of each sample within its class
    take = torch.argsort(rank * n + torch.arange(n))[:limit]  # rank 0 of every class first
    return perm[take].sort().values


def load_split(
    root: str | Path, name: str, split: str, limit: int | None = None, seed: int = 0
) -> tuple[Tensor, Tensor]:
    """uint8 images [N, C, H, W] and int64 labels [N] of a prepared split.

    `limit` keeps a deterministic (per `seed`), class-balanced random subset of that size.
    """
    spec = get_spec(name)
    path = split_path(root, name, split)
    verify_split(root, name, split)
    try:
        data = tensorfile.read(path)
        images, labels = data["images"], data["labels"]
    except Exception as exc:  # matches its sha256, so the manifest itself is wrong
        raise WeightswitchError(
            f"{path} is unreadable ({type(exc).__name__}); repair: {repair_command(root, name)}"
        ) from None
    if images.dtype != torch.uint8 or tuple(images.shape[1:]) != spec.shape:
        raise WeightswitchError(f"{path}: unexpected images {images.dtype} {tuple(images.shape)}")
    if limit is not None:
        if limit <= 0:
            raise UsageError(f"limit must be positive, got {limit}")
        if limit < len(labels):
            idx = balanced_subset(labels, limit, seed)
            images, labels = images[idx], labels[idx]
    return images, labels
