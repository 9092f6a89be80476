"""What MLflow takes from a run directory's files: the run-level metrics of metrics.json, the
per-epoch rows of history.csv, the gates of gates.pt and the files logged as artifacts."""

from __future__ import annotations

import contextlib
import csv
import json
from pathlib import Path
from typing import Any

import torch

from weightswitch import tensorfile
from weightswitch.run_files import CONFIG, EXPORTED, GATES, HISTORY, METRICS

FINAL_KEYS = (
    "test_accuracy",
    "exported_test_accuracy",
    "compression_ratio",
    "snn_params",
    "fc_macs_removed",
    "epoch_seconds",
    "wall_seconds",
)
FINAL_PREFIXES = ("final_", "layer_sparsity.")  # the other run-level names (final_metrics)
RUN_FILES = (METRICS, HISTORY, CONFIG, EXPORTED)  # logged as artifacts


def final_metrics(metrics: dict[str, Any]) -> dict[str, float]:
    """Run-level numbers; names differ from the per-epoch series so none gets a second point."""
    flat = {k: metrics[k] for k in FINAL_KEYS if isinstance(metrics.get(k), (int, float))}
    flat["final_val_accuracy"] = metrics["val_accuracy"]
    flat["final_fc_sparsity"] = metrics["fc_sparsity"]
    for layer, value in (metrics.get("layer_sparsity") or {}).items():
        flat[f"layer_sparsity.{layer}"] = value
    return flat


def is_final(key: str) -> bool:
    """Whether `key` names a run-level metric of `final_metrics` (not a per-epoch series)."""
    return key in FINAL_KEYS or key.startswith(FINAL_PREFIXES)


def read_metrics(run_dir: Path) -> dict[str, Any] | None:
    """metrics.json of a finished run; None while the run is unfinished or the file is bad."""
    try:
        data = json.loads((run_dir / METRICS).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def history_rows(run_dir: Path) -> list[tuple[int, dict[str, float]]]:
    """(epoch, its numeric columns but epoch and phase) of every row of history.csv."""
    rows = []
    with contextlib.suppress(OSError), (run_dir / HISTORY).open() as f:
        for row in csv.DictReader(f):
            numbers = {}
            for key, value in row.items():
                with contextlib.suppress(TypeError, ValueError):
                    numbers[key] = float(value)
            numbers.pop("phase", None)
            rows.append((int(numbers.pop("epoch", 0)), numbers))
    return rows


def read_gates(run_dir: Path) -> dict[str, torch.Tensor] | None:
    path = run_dir / GATES
    if not path.is_file():
        return None
    with contextlib.suppress(Exception):
        return tensorfile.read(path)
    return None
