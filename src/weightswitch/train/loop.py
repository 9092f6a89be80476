"""The epoch loop: train one epoch, validate, hand the row to the callbacks.

Hot-path rules: loss and accuracy accumulate on the device; the only host syncs are one
finiteness check every `CHECK_EVERY` steps and the end-of-epoch totals.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from weightswitch.errors import TrainingDiverged
from weightswitch.methods.optim import clip_gradients
from weightswitch.methods.state import Callback, TrainState
from weightswitch.train.metrics import fc_sparsity

CHECK_EVERY = 50  # steps between divergence checks (one host sync each)
# A mean cross-entropy this large means logits in the thousands: the run has blown up even
# if the numbers are still finite (they turn to inf/NaN a few steps later).
EXPLODED_LOSS = 1e3


def autocast(device: torch.device, amp: str) -> contextlib.AbstractContextManager[Any]:
    if amp == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def _prepare(x: torch.Tensor, channels_last: bool) -> torch.Tensor:
    if channels_last and x.dim() == 4:
        return x.contiguous(memory_format=torch.channels_last)
    return x


def _diverged(state: TrainState, epoch: int) -> TrainingDiverged:
    return TrainingDiverged(
        f"training diverged: loss is NaN/inf or above {EXPLODED_LOSS:g} in epoch {epoch + 1} "
        f"(phase {state.phase}, lr {state.lr:g}); lower the learning rate or set "
        "optimizer.grad_clip. No metrics were written."
    )


def _exploded(mean_loss: torch.Tensor | float) -> bool:
    return not math.isfinite(float(mean_loss)) or float(mean_loss) > EXPLODED_LOSS


def _weights_finite(model: nn.Module) -> bool:
    """One host sync for the whole model."""
    flags = [torch.isfinite(p.detach()).all() for p in model.parameters()]
    return bool(torch.stack(flags).all()) if flags else True


def _diverged_after_update(state: TrainState, epoch: int, val_loss: float) -> TrainingDiverged:
    """The epoch's training loss is measured before each update; the model after the last
    update is only seen by validation (and the weights themselves)."""
    finite = "finite" if _weights_finite(state.model) else "NaN/inf"
    return TrainingDiverged(
        f"training diverged after the last update of epoch {epoch + 1}: validation loss "
        f"{val_loss:.3g} (NaN/inf or above {EXPLODED_LOSS:g}), weights {finite} "
        f"(phase {state.phase}, lr {state.lr:g}); lower the learning rate or set "
        "optimizer.grad_clip. No metrics were written."
    )


def train_epoch(
    state: TrainState, batches: Iterable[Any], step_callbacks: Sequence[Callback]
) -> tuple[float, float]:
    """One pass over `batches`; returns (mean loss, accuracy) over the examples seen."""
    model, device, cfg = state.model, state.device, state.cfg
    channels_last = bool(state.extra.get("channels_last"))
    model.train()
    loss_sum = torch.zeros((), device=device)
    correct = torch.zeros((), dtype=torch.long, device=device)
    seen = 0
    for x, y in batches:
        for cb in step_callbacks:
            cb.on_step_start(state)
        optimizers = [state.optimizers[name] for name in state.active]
        for opt in optimizers:
            opt.zero_grad(set_to_none=True)
        with autocast(device, cfg.amp):
            out = model(_prepare(x, channels_last))
            loss = F.cross_entropy(out, y)
        loss.backward()
        for opt in optimizers:
            clip_gradients(opt)
            opt.step()
        state.step += 1
        n = y.shape[0]
        loss_sum += loss.detach().float() * n
        correct += (out.detach().argmax(1) == y).sum()
        seen += n
        if state.step % CHECK_EVERY == 0 and _exploded(loss_sum.item() / seen):
            raise _diverged(state, state.epoch)
    mean_loss = loss_sum.item() / max(seen, 1)
    if _exploded(mean_loss):
        raise _diverged(state, state.epoch)
    return mean_loss, correct.item() / max(seen, 1)


class Evaluation(NamedTuple):
    accuracy: float
    loss: float  # mean cross-entropy


@torch.no_grad()
def evaluate(
    model: nn.Module,
    batches: Iterable[Any],
    device: torch.device,
    amp: str = "off",
    channels_last: bool = False,
) -> Evaluation:
    """Accuracy and mean loss of `model` (eval mode) over `batches`."""
    model.eval()
    correct = torch.zeros((), dtype=torch.long, device=device)
    loss_sum = torch.zeros((), device=device)
    seen = 0
    for x, y in batches:
        with autocast(device, amp):
            out = model(_prepare(x, channels_last))
        correct += (out.argmax(1) == y).sum()
        loss_sum += F.cross_entropy(out.float(), y, reduction="sum")
        seen += y.shape[0]
    return Evaluation(correct.item() / max(seen, 1), loss_sum.item() / max(seen, 1))


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def fit(
    state: TrainState,
    train_batches: Any,
    val_batches: Iterable[Any],
    callbacks: Sequence[Callback],
) -> None:
    """Run epochs `state.epoch .. state.total_epochs - 1` (or until a callback sets `stop`).

    `train_batches` needs `set_epoch(epoch)` so the batch order depends only on
    (seed, epoch): a resumed run sees exactly the batches an uninterrupted run would."""
    step_callbacks = [cb for cb in callbacks if cb.per_step]
    channels_last = bool(state.extra.get("channels_last"))
    while state.epoch < state.total_epochs and not state.stop:
        epoch = state.epoch
        for cb in callbacks:
            cb.on_epoch_start(state, epoch)
        train_batches.set_epoch(epoch)
        _sync(state.device)
        start = time.perf_counter()
        loss, acc = train_epoch(state, train_batches, step_callbacks)
        _sync(state.device)
        seconds = time.perf_counter() - start
        val_acc, val_loss = evaluate(
            state.model, val_batches, state.device, state.cfg.amp, channels_last
        )
        if _exploded(val_loss) or not _weights_finite(state.model):
            raise _diverged_after_update(state, epoch, val_loss)
        row: dict[str, Any] = {
            "epoch": epoch + 1,
            "phase": state.phase,
            "lr": state.lr,
            "train_loss": loss,
            "train_accuracy": acc,
            "val_accuracy": val_acc,
            "fc_sparsity": fc_sparsity(state.model),
            "seconds": seconds,
        }
        state.history.append(row)
        state.epoch = epoch + 1
        for cb in callbacks:
            cb.on_epoch_end(state, row)
