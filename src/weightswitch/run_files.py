"""The files of a run directory: the contract between `train` (which writes them), the runs
that start from a finished one (`methods.prune`: `--init-from`, `--match`), `rundir`,
`tracking` and `report` (which read them). docs/architecture.md, "Run outputs".

Every name below is the one place that names the file; `history_csv` is the one place that
formats `history.csv`; `RECORD_KEYS` is the one list of metrics.json's keys and `read_record`
its one reader (`train.metrics.run_record` writes it).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

CONFIG = "config.json"  # the resolved config, written first
HISTORY = "history.csv"  # one row per epoch (HISTORY_COLUMNS), rewritten after every epoch
CHECKPOINT = "checkpoint.pt"  # weightswitch.checkpoint's format, after every epoch
GATES = "gates.pt"  # {layer name: float16 gates}, switcher runs only
EXPORTED = "model_exported.pt"  # the deployable plain model (FC weights W * G)
METRICS = "metrics.json"  # written last: its presence marks the run complete
DIVERGED = "diverged.json"  # instead of metrics.json: training hit NaN/inf
LOCK = ".lock"  # exists while a run holds the directory (rundir.RunLock)

# Everything `train` writes into a run directory (removed by --force).
OUTPUTS: tuple[str, ...] = (METRICS, HISTORY, GATES, EXPORTED, CHECKPOINT, CONFIG, DIVERGED)

# history.csv: one row per epoch
HISTORY_COLUMNS: tuple[str, ...] = (
    "epoch",
    "phase",
    "lr",
    "train_loss",
    "train_accuracy",
    "val_accuracy",
    "fc_sparsity",
    "seconds",
)


def history_csv(history: Iterable[Mapping[str, Any]]) -> str:
    """The text of history.csv: HISTORY_COLUMNS, floats to 6 significant digits."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=HISTORY_COLUMNS, extrasaction="ignore")
    writer.writeheader()
    for row in history:
        writer.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})
    return buf.getvalue()


# metrics.json: the keys of every finished run's record, in the order `train` writes them
# (docs/architecture.md, "Run outputs"); a method adds its own (a pruning run's criterion, a
# switcher's gate_weight_spearman, ...) after `target_sparsity`.
RECORD_KEYS: tuple[str, ...] = (
    "arch",
    "dataset",
    "method",
    "seed",
    "profile",
    "epochs",
    "test_accuracy",
    "val_accuracy",
    "fc_sparsity",
    "layer_sparsity",
    "compression_ratio",
    "snn_params",
    "fc_macs_removed",
    "epoch_seconds",
    "wall_seconds",
    "device",
    "git_commit",
    "train_size",
    "val_size",
    "test_size",
    "matched_run",
    "target_sparsity",
    "exported_test_accuracy",
    "phase_seconds",
    "fc_weights",
    "total_params",
    "nonzero_params",
    "amp",
    "torch_version",
    "threads",
    "cpu_capability",
    "init_from",
    "mlflow_run_id",
    "config",
    "identity",
)
# what a reader may not do without: which run it is and its result
REQUIRED_KEYS: tuple[str, ...] = ("arch", "dataset", "method", "seed", "test_accuracy")


class UnreadableRecord(ValueError):
    """A metrics.json that exists but cannot be trusted (the message says why)."""


def read_record(run_dir: str | Path, require: Iterable[str] = ()) -> dict[str, Any]:
    """The metrics.json of `run_dir`, as written. FileNotFoundError: there is none (the run
    is unfinished); `UnreadableRecord`: it is not JSON, not an object or lacks a key of
    `require` (the report's readers pass `REQUIRED_KEYS`)."""
    path = Path(run_dir) / METRICS
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise
    except (OSError, ValueError) as exc:  # a decode error is a ValueError too
        raise UnreadableRecord(f"unreadable {METRICS} ({type(exc).__name__}: {exc})") from exc
    if not isinstance(data, dict):
        raise UnreadableRecord(f"{METRICS} is not a JSON object")
    absent = [key for key in require if key not in data]
    if absent:
        raise UnreadableRecord(f"{METRICS} lacks {', '.join(absent)}")
    return data
