"""One training run end to end: outputs, resume, tracking, final (honest) evaluation.

Run directory (docs/architecture.md, "Run outputs"): config.json first, then history.csv and
checkpoint.pt after every epoch (atomic), and at the end gates.pt, model_exported.pt and
finally metrics.json, whose presence marks the run complete. Test accuracy is measured once,
on the final model, after training; no selection on test. This module orchestrates: the run
directory's files (names: `weightswitch.run_files`), identity, lock, completion, checkpoint
payload and resume live in `weightswitch.rundir`, metrics.json's record in `train.metrics`.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import torch

from weightswitch import checkpoint
from weightswitch.config import RunConfig, flatten
from weightswitch.errors import TrainingDiverged, UsageError, WeightswitchError, os_error_text
from weightswitch.methods import Callback, Method, TrainState, make_method
from weightswitch.run_files import DIVERGED, HISTORY_COLUMNS
from weightswitch.rundir import Identity, RunDir, diverged_parents, identity_of, restore
from weightswitch.train.loop import evaluate, fit
from weightswitch.train.metrics import machine_numerics, run_record, sparsity_metrics
from weightswitch.train.progress import Progress


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise UsageError(f"device {name!r} requested but CUDA is not available; use cpu or auto")
    return torch.device(name)


def uses_convs(model: torch.nn.Module) -> bool:
    return any(isinstance(m, torch.nn.Conv2d) for m in model.modules())


def device_label(device: torch.device) -> str:
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    return device.type


# ------------------------------------------------------------------------------ callbacks


class Checkpointer(Callback):
    """After every epoch (and once at the start, so that even a kill in the first epoch
    resumes into the same MLflow run): history.csv and an atomic checkpoint of everything a
    resume needs, stamped with the run's identity."""

    def __init__(
        self, run: RunDir, method: Method, identity: Identity, session_start: float
    ) -> None:
        self.run = run
        self.method = method
        self.identity = identity
        self.session_start = session_start
        self.wall_before = 0.0

    def wall_seconds(self) -> float:
        return self.wall_before + time.perf_counter() - self.session_start

    def save(self, state: TrainState) -> None:
        self.run.write_history(state.history)
        state.extra["wall_seconds"] = self.wall_seconds()
        self.run.save_checkpoint(state, self.method, self.identity)

    def on_epoch_end(self, state: TrainState, row: dict[str, Any]) -> None:
        self.save(state)


class TrackingCallback(Callback):
    """One MLflow log call per epoch (step = epoch); nothing in the per-batch path."""

    def __init__(self, tracker: Any) -> None:
        self.tracker = tracker

    def on_epoch_end(self, state: TrainState, row: dict[str, Any]) -> None:
        metrics = {k: row[k] for k in HISTORY_COLUMNS if k not in ("epoch", "phase")}
        for name, opt in state.optimizers.items():
            metrics[f"lr_{name}"] = opt.param_groups[0]["lr"]
        self.tracker.log_metrics(metrics, step=int(row["epoch"]))


# -------------------------------------------------------------------------------- the run


def _setup_determinism(device: torch.device) -> None:
    if device.type == "cpu":
        torch.use_deterministic_algorithms(True, warn_only=True)
    else:
        torch.backends.cudnn.benchmark = True


def new_state(cfg: RunConfig, device: torch.device) -> tuple[TrainState, Method]:
    """Seeded model (NHWC for convnets unless disabled) + method, set up for epoch 0."""
    from weightswitch.models import build_model

    checkpoint.seed_everything(cfg.seed)
    model = build_model(
        cfg.arch, cfg.dataset, fc_bias=cfg.fc_bias, fc_init=cfg.fc_init, **cfg.model
    ).to(device)
    channels_last = uses_convs(model) and cfg.channels_last is not False
    if channels_last:  # NHWC: faster convs with oneDNN (CPU) and cuDNN (GPU)
        model = model.to(memory_format=torch.channels_last)
    method = make_method(cfg)
    state = TrainState(cfg=cfg, model=model, device=device, total_epochs=cfg.epochs)
    state.extra["channels_last"] = channels_last
    method.setup(state)
    return state, method


def train(
    cfg: RunConfig,
    *,
    force: bool = False,
    checkpoint_dir: str | Path | None = None,
    callbacks: Sequence[Callback] = (),
    bar: bool | None = None,
) -> dict[str, Any]:
    """Train (or resume, or recognise as complete) the run `cfg` describes; return metrics.

    The whole run holds the run directory's lock. `checkpoint_dir` keeps the checkpoints
    outside the run directory while it trains (the DVC stages: DVC removes a stage's outputs
    before re-running it, the checkpoint folder survives)."""
    run = RunDir(Path(cfg.out or "."), None if checkpoint_dir is None else Path(checkpoint_dir))
    with sigterm_as_interrupt() as guard:
        try:
            return _train(cfg, run, force, [*callbacks, guard], bar)
        except OSError as exc:  # a full or read-only disk, a path that cannot be a folder
            raise WeightswitchError(os_error_text(exc)) from None


class Terminated(KeyboardInterrupt):
    """SIGTERM (a killed `dvc repro`, a scheduler): handled exactly like Ctrl-C."""


class SigtermGuard(Callback):
    """Raises `Terminated` at the next step, epoch or end of training once a SIGTERM arrived.
    Why not raise in the signal handler: a handler's exception is lost when the signal lands
    while Python runs a weakref callback or a `__del__` (it prints "Exception ignored" and a
    traceback, and the run trained to its end and exited 0). The handler only sets a flag;
    the loop stops at its next step (a batch: well under a second here)."""

    per_step = True

    def __init__(self) -> None:
        self.received = False

    def check(self) -> None:
        if self.received:
            raise Terminated("terminated (SIGTERM)")

    def on_step_start(self, state: TrainState) -> None:
        self.check()

    def on_epoch_start(self, state: TrainState, epoch: int) -> None:
        self.check()

    def on_epoch_end(self, state: TrainState, row: dict[str, Any]) -> None:
        self.check()

    def on_fit_end(self, state: TrainState) -> None:
        self.check()


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[SigtermGuard]:
    """While training, SIGTERM raises `Terminated` at the next step: locks are released, the
    MLflow run ends KILLED and the CLI prints one line, as for SIGINT (only in the main
    thread). The handler sets the yielded guard's flag; the guard, run as a callback, raises."""
    guard = SigtermGuard()
    if threading.current_thread() is not threading.main_thread():
        yield guard
        return

    def handler(signum: int, frame: Any) -> None:
        guard.received = True

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield guard
    finally:
        signal.signal(signal.SIGTERM, previous)


def _train(
    cfg: RunConfig,
    run: RunDir,
    force: bool,
    callbacks: Sequence[Callback],
    bar: bool | None,
) -> dict[str, Any]:
    identity = identity_of(cfg)
    with run.locked():
        done = None if force else run.completed(identity)
        if done is not None:
            print(
                f"{run.out}: already complete (test accuracy {done.get('test_accuracy')}); "
                "pass --force to retrain"
            )
            if cfg.tracking:  # a kill after metrics.json may have left its MLflow run RUNNING
                from weightswitch.tracking import log_finished_run

                log_finished_run(run.out, cfg)
            return done
        record = None if force else run.divergence(identity)
        if record is not None:
            raise TrainingDiverged(
                f"{record.get('message', 'training diverged')} [recorded "
                f"{record.get('time')} in {run.out / DIVERGED}; --force "
                "retrains]"
            )
        try:
            if parents := diverged_parents(cfg, identity):
                raise TrainingDiverged(
                    f"nothing to start from: the parent run diverged ({', '.join(parents)})"
                )
            return _train_locked(cfg, run, identity, force, callbacks, bar)
        except TrainingDiverged as exc:
            run.record_divergence(identity, str(exc), machine_numerics())
            raise


def _train_locked(
    cfg: RunConfig,
    run: RunDir,
    identity: Identity,
    force: bool,
    callbacks: Sequence[Callback],
    bar: bool | None,
) -> dict[str, Any]:
    from weightswitch.data import BatchIterator, get_spec, load_split
    from weightswitch.provenance import git_commit
    from weightswitch.tracking import (
        Tracker,
        experiment_name,
        experiment_tags,
        final_metrics,
        run_tags,
    )

    out = run.out
    session_start = time.perf_counter()
    device = resolve_device(cfg.device)
    _setup_determinism(device)
    spec = get_spec(cfg.dataset)
    # load_split checks each split against its manifest: damaged data stops the run here,
    # before anything is written or removed
    train_x, train_y = load_split(cfg.data_root, cfg.dataset, "train", limit=cfg.train_limit)
    val_x, val_y = load_split(cfg.data_root, cfg.dataset, "val", limit=cfg.eval_limit)
    test_x, test_y = load_split(cfg.data_root, cfg.dataset, "test", limit=cfg.eval_limit)
    train_it = BatchIterator(
        train_x,
        train_y,
        spec,
        cfg.batch_size,
        shuffle=True,
        augment=True,
        device=device,
        seed=cfg.seed,
        norm=cfg.input_norm,
    )
    val_it = BatchIterator(
        val_x,
        val_y,
        spec,
        cfg.eval_batch_size,
        shuffle=False,
        augment=False,
        device=device,
        norm=cfg.input_norm,
    )

    if force:
        run.clear()
    ckpt = run.resume_point(identity)
    finished = None if ckpt is None else run.finished(identity)
    state, method = new_state(cfg, device)
    if finished is not None:
        restore(state, method, ckpt)
        print(f"{out}: restoring the finished run from {run.checkpoint}; no epoch retrained")
    elif ckpt is not None:
        restore(state, method, ckpt)
        print(f"{out}: resuming after epoch {state.epoch}/{state.total_epochs}")
    state.extra.update(train_size=len(train_y), val_size=len(val_y), test_size=len(test_y))

    run.write_config(cfg)
    commit = git_commit()
    tracker = Tracker(experiment_name(cfg), enabled=cfg.tracking, tags=experiment_tags(cfg))
    tags = {
        **run_tags(cfg, device_label(device), commit),
        "identity": identity.digest,
        "torch_version": torch.__version__,
        **machine_numerics(),
    }
    tracker.start(flatten(cfg.to_dict()), tags, run_id=state.extra.get("mlflow_run_id"))
    tracker.end_others(run.abandoned_mlflow_runs, "KILLED")
    state.extra["mlflow_run_id"] = tracker.run_id

    saver = Checkpointer(run, method, identity, session_start)
    saver.wall_before = float(state.extra.get("wall_seconds", 0.0))
    progress = Progress(len(train_it), bar=bar)
    all_callbacks = [method, saver, TrackingCallback(tracker), progress, *callbacks]
    try:
        if finished is None:
            saver.save(state)
            fit(state, train_it, val_it, all_callbacks)
        else:  # the final checkpoint as it was: only the run directory's files are rewritten
            run.write_history(state.history)
        for cb in all_callbacks:
            cb.on_fit_end(state)
        test = (test_x, test_y)
        metrics = _finish(state, method, val_it, spec, test, commit, saver, finished)
    except BaseException as exc:
        progress.close()
        diverged = "diverged" if isinstance(exc, TrainingDiverged) else None
        tracker.end("KILLED" if isinstance(exc, KeyboardInterrupt) else "FAILED", diverged)
        raise
    tracker.log_metrics(final_metrics(metrics), step=len(state.history))
    tracker.log_artifacts(out, method.gates(state.model))
    tracker.log_model(method.export(state.model))  # MLflow's "Models": the exported net
    tracker.end("FINISHED")
    print(
        f"{out}: test accuracy {metrics['test_accuracy']:.4f}, "
        f"fc sparsity {metrics['fc_sparsity']:.4f}"
    )
    return metrics


def _finish(
    state: TrainState,
    method: Method,
    val_it: Any,
    spec: Any,
    test: tuple[torch.Tensor, torch.Tensor],
    commit: str | None,
    saver: Checkpointer,
    finished: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Evaluate the final model once on val and test, write gates, export, the final
    checkpoint, then metrics.json (with the identity it was computed for). `finished`: the
    record of this very run, kept with its final checkpoint (`RunDir.finished`): written
    again as it was, nothing re-evaluated."""
    from weightswitch.data import BatchIterator

    cfg, model, device = state.cfg, state.model, state.device
    run = saver.run
    test_it = BatchIterator(
        *test,
        spec,
        cfg.eval_batch_size,
        shuffle=False,
        augment=False,
        device=device,
        norm=cfg.input_norm,
    )
    model.eval()  # as after the last epoch's validation, also when no epoch ran here
    gates = method.gates(model)
    if gates is not None:
        run.write_gates(gates)
    exported = method.export(model)
    metrics = finished or _record(state, method, exported, val_it, test_it, commit, saver)
    run.write_exported(cfg, exported.to("cpu").eval())
    run.complete(metrics)
    return metrics


def _record(
    state: TrainState,
    method: Method,
    exported: torch.nn.Module,
    val_it: Any,
    test_it: Any,
    commit: str | None,
    saver: Checkpointer,
) -> dict[str, Any]:
    """metrics.json's record: the final model evaluated once on val and test."""
    cfg, model, device = state.cfg, state.model, state.device
    cl = bool(state.extra.get("channels_last"))
    val_acc = evaluate(model, val_it, device, cfg.amp, cl).accuracy
    test_acc = evaluate(model, test_it, device, cfg.amp, cl).accuracy
    exported_acc = evaluate(exported, test_it, device, cfg.amp, cl).accuracy
    return run_record(
        state,
        test_accuracy=test_acc,
        val_accuracy=val_acc,
        sparsity=sparsity_metrics(model),  # the very gates that produced test_acc
        wall_seconds=saver.wall_seconds(),
        device=device_label(device),
        commit=commit,
        method_metrics=method.run_metrics(model),
        exported_test_accuracy=exported_acc,
        identity=saver.identity,
    )
