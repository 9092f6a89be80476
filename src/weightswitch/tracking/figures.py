"""The gate figures of an MLflow run: per switched layer a histogram of the positive gates
and a gate map (`weightswitch.gate_images`: drawn as the report draws it, zeros in red)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from weightswitch.gate_images import gate_image, zero_colormap


def gate_figures(gates: dict[str, torch.Tensor], out: Path) -> list[Path]:
    """One histogram PNG and one gate-map PNG (in x out, as the study draws them) per layer."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths: list[Path] = []
    for name, g in gates.items():
        values = g.detach().float().cpu().numpy()
        flat = values.ravel()
        zero = float((flat == 0).mean())
        safe = name.replace("/", "_")
        fig, ax = plt.subplots(figsize=(5, 3.2))
        ax.hist(flat[flat > 0], bins=60, color="#3b6ea8")
        ax.set_xlabel("gate value (positive gates)")
        ax.set_ylabel("count")
        ax.set_title(f"{name}: {zero:.1%} of {flat.size} gates are exactly 0", fontsize=9)
        paths.append(_save(fig, out / f"{safe}_hist.png"))

        image = gate_image(values)  # rows: input units
        rows, cols = image.shape  # axes in units even when the image is pooled for display
        fig, ax = plt.subplots(figsize=(4.5, 4.5))
        shown = ax.imshow(
            image.masked(),
            aspect="auto",
            cmap=zero_colormap(),
            interpolation="nearest",
            extent=(0, cols, rows, 0),
        )
        fig.colorbar(shown, ax=ax, shrink=0.8, label="gate (red: exactly 0)")
        ax.set_xlabel("output unit" if values.ndim == 2 else "")
        ax.set_ylabel("input unit")
        ax.set_title(f"{name} gates ({rows} x {cols}, rows: input units)", fontsize=9)
        paths.append(_save(fig, out / f"{safe}_map.png"))
    return paths


def _save(fig: Any, path: Path) -> Path:
    import matplotlib.pyplot as plt

    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
