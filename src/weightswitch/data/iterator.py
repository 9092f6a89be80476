"""Batches straight from an in-memory uint8 tensor, augmented with batched tensor ops.

Small images make torchvision's per-sample PIL pipeline the bottleneck of training; here
the whole split sits on `device` once, a batch is one `index_select`, CIFAR's random crop +
horizontal flip is a single `gather`, and normalisation is one multiply-add. All randomness
of an epoch is drawn up front on the CPU from `(seed, epoch)`, so batches are identical on
any device and after a resume.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch import Tensor

from weightswitch.data.registry import DatasetSpec, input_norm
from weightswitch.errors import UsageError

CROP_PADDING = 4


def epoch_seed(seed: int, epoch: int) -> int:
    """A 63-bit seed from `(seed, epoch)`, stable across processes and platforms."""
    digest = hashlib.sha256(f"weightswitch/{seed}/{epoch}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & (2**63 - 1)


def crop_flip(batch: Tensor, dy: Tensor, dx: Tensor, flip: Tensor, padding: int) -> Tensor:
    """Zero-pad by `padding`, crop back to H x W at offsets (dy, dx), mirror where `flip`.

    Equivalent to torchvision's RandomCrop(H, padding) + RandomHorizontalFlip per sample.
    """
    b, c, h, w = batch.shape
    padded = F.pad(batch, (padding,) * 4)
    wp = w + 2 * padding
    ar_h = torch.arange(h, device=batch.device)
    ar_w = torch.arange(w, device=batch.device)
    rows = dy[:, None] + ar_h  # [B, H]
    cols = torch.where(flip[:, None], dx[:, None] + (w - 1) - ar_w, dx[:, None] + ar_w)  # [B, W]
    index = (rows[:, :, None] * wp + cols[:, None, :]).view(b, 1, h * w).expand(b, c, h * w)
    return padded.view(b, c, -1).gather(2, index).view(b, c, h, w)


class BatchIterator:
    """Yields `(x float32 [B,C,H,W] normalised, y int64 [B])` on `device`.

    `norm` picks the input normalisation (`registry.input_norm`): by default the reference
    code's (raw [0, 1] pixels for the MNIST family, its mean/std constants for CIFAR).

    Call `set_epoch(epoch)` before each epoch (as with `DistributedSampler`): order and
    augmentation are a function of `(seed, epoch)` only. The last partial batch is kept.
    """

    def __init__(
        self,
        images: Tensor,
        labels: Tensor,
        spec: DatasetSpec,
        batch_size: int,
        *,
        shuffle: bool,
        augment: bool,
        device: str | torch.device = "cpu",
        seed: int = 0,
        norm: str = "reference",
    ) -> None:
        if images.dtype != torch.uint8 or tuple(images.shape[1:]) != spec.shape:
            raise UsageError(
                f"images must be uint8 [N, {', '.join(map(str, spec.shape))}] for {spec.name}, "
                f"got {images.dtype} {tuple(images.shape)}"
            )
        if labels.shape != (len(images),):
            raise UsageError(f"labels must be [{len(images)}], got {tuple(labels.shape)}")
        if batch_size < 1:
            raise UsageError(f"batch size must be >= 1, got {batch_size}")
        self.device = torch.device(device)
        self.images = images.to(self.device).contiguous()
        self.labels = labels.to(self.device, torch.int64)
        self.spec = spec
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.augment = augment and spec.augment == "cifar"
        self.seed = seed
        self.epoch = 0
        stats = input_norm(spec, norm)
        mean = torch.tensor(stats[0], dtype=torch.float32).view(1, -1, 1, 1)
        std = torch.tensor(stats[1], dtype=torch.float32).view(1, -1, 1, 1)
        # (x / 255 - mean) / std  ==  x * scale + shift
        self._scale = (1.0 / (255.0 * std)).to(self.device)
        self._shift = (-mean / std).to(self.device)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return math.ceil(len(self.labels) / self.batch_size)

    def _draws(self) -> tuple[Tensor, Tensor | None]:
        """This epoch's order and, if augmenting, per-position (dy, dx, flip)."""
        n = len(self.labels)
        g = torch.Generator().manual_seed(epoch_seed(self.seed, self.epoch))
        order = torch.randperm(n, generator=g) if self.shuffle else torch.arange(n)
        aug = None
        if self.augment:
            offsets = torch.randint(0, 2 * CROP_PADDING + 1, (2, n), generator=g)
            flips = torch.randint(0, 2, (1, n), generator=g)
            aug = torch.cat([offsets, flips]).to(self.device)
        return order.to(self.device), aug

    def normalise(self, batch: Tensor) -> Tensor:
        return batch.float().mul_(self._scale).add_(self._shift)

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        order, aug = self._draws()
        for start in range(0, len(order), self.batch_size):
            idx = order[start : start + self.batch_size]
            x = self.images.index_select(0, idx)
            if aug is not None:
                dy, dx, flip = aug[:, start : start + self.batch_size]
                x = crop_flip(x, dy, dx, flip.bool(), CROP_PADDING)
            yield self.normalise(x), self.labels.index_select(0, idx)
