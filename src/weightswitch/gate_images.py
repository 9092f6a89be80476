"""Gate images: a layer's gates laid out input x output, pooled for display, zeros in red.

The one place both readers of gates draw them from: `tracking` (the gate maps of an MLflow
run) and `report` (the report's gate-map figures), so a map means the same in both. Sits in
layer 1 (numpy and matplotlib only) so either may import it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

ZERO_COLOR = "#d62728"  # exactly-zero gates (connections switched off)
MAX_SIDE = 512  # a 4096x4096 layer is block-pooled to at most this many pixels a side


@dataclass
class GateImage:
    """A gate image laid out in x out (rows: input units), possibly block-pooled for display."""

    shape: tuple[int, int]  # (in, out) before pooling
    block: tuple[int, int]  # pooling block (1, 1) = full resolution
    mean: np.ndarray  # block mean of the gates
    all_zero: np.ndarray  # True where every gate of the block is exactly zero
    zero_fraction: float

    @property
    def pooled(self) -> bool:
        return self.block != (1, 1)

    def masked(self) -> np.ma.MaskedArray:
        """The block means with all-zero blocks masked: `zero_colormap` draws them red."""
        return np.ma.masked_array(self.mean, mask=self.all_zero)


def pool_blocks(image: np.ndarray, max_side: int) -> tuple[np.ndarray, np.ndarray, tuple[int, int]]:
    """Block-mean and block-max pool a 2-D array so no side exceeds `max_side`."""
    h, w = image.shape
    kh, kw = -(-h // max_side), -(-w // max_side)
    if (kh, kw) == (1, 1):
        return image.astype(np.float32), image, (1, 1)
    ph, pw = -(-h // kh) * kh, -(-w // kw) * kw
    padded = np.full((ph, pw), np.nan, dtype=np.float32)
    padded[:h, :w] = image
    blocks = padded.reshape(ph // kh, kh, pw // kw, kw)
    return np.nanmean(blocks, axis=(1, 3)), np.nanmax(blocks, axis=(1, 3)), (kh, kw)


def gate_image(gates: np.ndarray, max_side: int = MAX_SIDE) -> GateImage:
    """The image of one layer's gates: out x in like W (transposed: the study shows in x
    out), or one gate per output unit (neuron gates: a single column)."""
    image = gates.T if gates.ndim == 2 else gates.reshape(-1, 1)
    mean, top, block = pool_blocks(image, max_side)
    return GateImage(
        shape=(int(image.shape[0]), int(image.shape[1])),
        block=block,
        mean=mean,
        all_zero=top == 0,
        zero_fraction=float((image == 0).mean()),
    )


def zero_colormap() -> Any:
    """viridis for positive gates; masked (all-zero) pixels in ZERO_COLOR."""
    import matplotlib

    return matplotlib.colormaps["viridis"].with_extremes(bad=ZERO_COLOR)
