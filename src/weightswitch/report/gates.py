"""Gate tensors (gates.pt of switcher runs) reduced to small tidy data for plotting.

gates.pt is loaded lazily, one run at a time, and only for the run each figure shows (the
lowest seed of a switcher method), so a 4096x4096 VGG layer never sits in memory twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from weightswitch.gate_images import MAX_SIDE, GateImage, gate_image
from weightswitch.report.collect import GATE_FIGURE_METHODS, KEYS, STATUS_OK
from weightswitch.run_files import GATES

HIST_COLUMNS = (*KEYS, "layer", "order", "left", "right", "count", "zeros", "total")


def load_gates(run_dir: str | Path) -> dict[str, np.ndarray]:
    """Read `{layer: gate tensor}` from a run's gates.pt as float32 arrays."""
    from weightswitch import tensorfile

    data = tensorfile.read(Path(run_dir) / GATES)
    if not isinstance(data, dict):
        raise ValueError("gates.pt is not a {layer: tensor} dict")
    return {str(k): v.detach().float().numpy() for k, v in data.items()}


def gate_runs(runs: pd.DataFrame, methods: tuple[str, ...] = GATE_FIGURE_METHODS) -> pd.DataFrame:
    """The run each gate figure shows: the lowest seed with a gates.pt per pair and method."""
    ok = runs[(runs["status"] == STATUS_OK) & runs["has_gates"].astype(bool)]
    ok = ok[ok["method"].isin(methods)]
    return ok.sort_values([*KEYS]).groupby(["profile", "dataset", "arch", "method"]).head(1)


def histogram_table(
    runs: pd.DataFrame, bins: int = 60, warn: list[str] | None = None
) -> pd.DataFrame:
    """Histogram of the positive gates per layer, plus the count of exactly-zero gates."""
    rows: list[dict[str, object]] = []
    for _, run in gate_runs(runs).iterrows():
        try:
            gates = load_gates(run["path"])
        except Exception as exc:  # a broken gates.pt only costs its figure panel
            if warn is not None:
                warn.append(f"{run['profile']}/{run['run']}: unreadable gates.pt ({exc})")
            continue
        ident = {k: run[k] for k in KEYS}
        for order, (layer, g) in enumerate(gates.items()):
            flat = g.ravel()
            positive = flat[flat > 0]
            zeros = int((flat == 0).sum())
            top = float(positive.max()) if positive.size else 1.0
            counts, edges = np.histogram(positive, bins=bins, range=(0.0, top))
            for c, lo, hi in zip(counts, edges[:-1], edges[1:], strict=True):
                rows.append(
                    {
                        **ident,
                        "layer": layer,
                        "order": order,
                        "left": float(lo),
                        "right": float(hi),
                        "count": int(c),
                        "zeros": zeros,
                        "total": int(flat.size),
                    }
                )
    return pd.DataFrame(rows, columns=list(HIST_COLUMNS))


@dataclass
class GateMap(GateImage):
    """The gate image of one switched layer of the run a report's figure shows."""

    ident: dict[str, object]
    layer: str


def gate_maps(
    runs: pd.DataFrame, max_side: int = MAX_SIDE, warn: list[str] | None = None
) -> list[GateMap]:
    """Gate images of every switched layer of the connection-switcher run shown per pair."""
    maps: list[GateMap] = []
    for _, run in gate_runs(runs, methods=("switcher",)).iterrows():
        try:
            gates = load_gates(run["path"])
        except Exception as exc:
            if warn is not None:
                warn.append(f"{run['profile']}/{run['run']}: unreadable gates.pt ({exc})")
            continue
        for layer, g in gates.items():
            if g.ndim != 2:
                continue
            image = gate_image(g, max_side)
            maps.append(GateMap(ident={k: run[k] for k in KEYS}, layer=layer, **vars(image)))
    return maps
