"""Reading the splits `fetch` prepared: whole uint8 tensors, optionally a fixed subset."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor

from weightswitch.data.manifest import SPLITS
from weightswitch.data.registry import get_spec
from weightswitch.errors import UsageError, WeightswitchError, unknown_choice


def split_path(root: str | Path, name: str, split: str) -> Path:
    if split not in SPLITS:
        raise unknown_choice("split", split, SPLITS)
    return Path(root) / name / f"{split}.pt"


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
    if not path.is_file():
        raise WeightswitchError(f"{path} not found; run: weightswitch fetch {name} --root {root}")
    data = torch.load(path, weights_only=True)
    images, labels = data["images"], data["labels"]
    if images.dtype != torch.uint8 or tuple(images.shape[1:]) != spec.shape:
        raise WeightswitchError(f"{path}: unexpected images {images.dtype} {tuple(images.shape)}")
    if limit is not None:
        if limit <= 0:
            raise UsageError(f"limit must be positive, got {limit}")
        if limit < len(labels):
            idx = balanced_subset(labels, limit, seed)
            images, labels = images[idx], labels[idx]
    return images, labels
