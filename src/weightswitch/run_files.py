"""The files of a run directory: the contract between `train` (which writes them), the runs
that start from a finished one (`methods.prune`: `--init-from`, `--match`), `rundir`,
`tracking` and `report` (which read them). docs/architecture.md, "Run outputs".

Every name below is the one place that names the file; `history_csv` is the one place that
formats `history.csv`.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
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
