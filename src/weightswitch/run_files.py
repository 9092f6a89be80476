"""The files one training run writes: the contract between `train` and `report`."""

from __future__ import annotations

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
