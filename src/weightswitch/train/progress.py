"""Progress output: a tqdm bar per epoch on a terminal, and always one plain line per epoch
(the only output in CI / DVC logs, where a bar would be noise)."""

from __future__ import annotations

import sys
from typing import Any, TextIO

from weightswitch.train.callbacks import Callback, TrainState


def epoch_line(row: dict[str, Any], total: int) -> str:
    return (
        f"epoch {row['epoch']}/{total} {row['phase']:<8} lr {row['lr']:.3g} "
        f"loss {row['train_loss']:.4f} acc {row['train_accuracy']:.4f} "
        f"val {row['val_accuracy']:.4f} sparsity {row['fc_sparsity']:.4f} "
        f"{row['seconds']:.1f}s"
    )


class Progress(Callback):
    def __init__(
        self, batches_per_epoch: int, stream: TextIO | None = None, bar: bool | None = None
    ) -> None:
        self.stream = stream or sys.stdout
        self.batches = batches_per_epoch
        self.bar_enabled = sys.stderr.isatty() if bar is None else bar
        self.per_step = self.bar_enabled
        self._bar: Any = None

    def on_epoch_start(self, state: TrainState, epoch: int) -> None:
        if self.bar_enabled:
            from tqdm import tqdm

            self._bar = tqdm(
                total=self.batches,
                desc=f"epoch {epoch + 1}/{state.total_epochs} {state.phase}",
                leave=False,
                unit="batch",
                file=sys.stderr,
            )

    def on_step_start(self, state: TrainState) -> None:
        if self._bar is not None:
            self._bar.update(1)

    def on_epoch_end(self, state: TrainState, row: dict[str, Any]) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        print(epoch_line(row, state.total_epochs), file=self.stream, flush=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
