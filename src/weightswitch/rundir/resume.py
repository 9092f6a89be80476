"""Where a run lives, what "complete" means and what may be resumed (`RunDir`), and a
checkpoint's payload (`snapshot`, `restore`).

`RunDir` knows where the checkpoint lives (the run directory, or a separate checkpoint folder
that outlives DVC's removal of stage outputs), what "complete" means, what may be resumed; it
writes the run's files (`write_config`, `write_history`, `save_checkpoint`, ..., `complete`:
metrics.json last), named in `weightswitch.run_files`. A checkpoint's payload is stamped with
CHECKPOINT_VERSION and the identity. A run that diverged is an outcome of its inputs too (the
switcher's recipe diverges on some seeds): `diverged.json` records it with the identity, so
asking again for the same run reports the divergence at once instead of retraining to it
(`--force` retrains).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from weightswitch import atomic
from weightswitch.config import RunConfig
from weightswitch.errors import UsageError, WeightswitchError
from weightswitch.run_files import (
    CHECKPOINT,
    CONFIG,
    DIVERGED,  # report.collect reads it from here too
    EXPORTED,
    GATES,
    HISTORY,
    LOCK,
    METRICS,
    OUTPUTS,
    UnreadableRecord,
    history_csv,
    read_record,
)
from weightswitch.rundir.identity import Identity, _try_json
from weightswitch.rundir.lock import RunLock, _holder, _now

if TYPE_CHECKING:
    import torch
    from torch import nn

    from weightswitch.methods import Method, TrainState

CHECKPOINT_VERSION = 3  # 2: checkpoints carry the run's identity; 3: and a content checksum


def _notice(message: str) -> None:
    print(f"weightswitch: notice: {message}", file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------- run dir


class RunDir:
    """One run directory and (optionally) its checkpoint folder outside it.

    With `checkpoint_dir`, checkpoints are written there while the run trains (a folder DVC
    does not remove when it re-runs a stage) and the final one is linked into the run
    directory before metrics.json marks the run complete; the folder keeps it, marked final
    by a copy of metrics.json (`finished`). A checkpoint there of another
    identity is a stale cache entry: it is discarded with a notice. A checkpoint or finished
    run of another identity in the run directory itself is refused unless `--force`.
    """

    def __init__(self, out: Path, checkpoint_dir: Path | None = None) -> None:
        self.out = out
        self.checkpoint_dir = checkpoint_dir
        self.abandoned_mlflow_runs: list[str] = []  # of discarded checkpoints: end as KILLED

    @property
    def checkpoint(self) -> Path:
        return (self.checkpoint_dir or self.out) / CHECKPOINT

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the run for the whole body: a lock in the run directory, and one in the
        checkpoint folder, which DVC never removes (a stage's process that outlives a killed
        `dvc repro` keeps its run even after DVC deleted the run directory). Empty folders
        are removed on exit: nothing half-written; a checkpoint folder stays only with a
        checkpoint in it."""
        folders = [f for f in (self.checkpoint_dir, self.out) if f is not None]
        removable = [f for f in folders if f == self.checkpoint_dir or not f.exists()]
        locks: list[RunLock] = []
        try:
            stale: dict[str, Any] = {}
            for folder in folders:
                folder.mkdir(parents=True, exist_ok=True)
                locks.append(RunLock(folder / LOCK))
                stale = locks[-1].acquire(str(self.out)) or stale
            if stale:
                _notice(f"{self.out}: taking over the lock of a run that died ({_holder(stale)})")
            self._sweep()
            yield
        finally:
            for lock in reversed(locks):
                lock.release()
            for folder in removable:
                with contextlib.suppress(OSError):
                    folder.rmdir()

    def _sweep(self) -> None:
        """Remove temporary files of writes a killed run left half-done (we hold the lock, so
        no writer is active; see `atomic.atomic_path` for their names)."""
        for folder in {self.out, self.checkpoint.parent}:
            for name in OUTPUTS:
                for tmp in folder.glob(f".{name}.*.tmp"):
                    tmp.unlink(missing_ok=True)

    # --- completion ---------------------------------------------------------------------
    def completed(self, identity: Identity) -> dict[str, Any] | None:
        """Metrics of a finished run of exactly `identity` (None if the run is unfinished)."""
        try:
            metrics = read_record(self.out)
        except FileNotFoundError:
            return None
        except (OSError, UnreadableRecord):
            raise UsageError(f"{self.out} holds an unreadable finished run; pass --force") from None
        old = Identity.from_dict(metrics.get("identity"))
        if old is None:
            raise UsageError(
                f"{self.out} holds a finished run with no recorded identity (an older "
                "weightswitch); pass --force to retrain"
            )
        if old.digest != identity.digest:
            raise UsageError(
                f"{self.out} holds a finished run of other inputs ({identity.changes(old)}); "
                "pass --force to retrain or use another --out"
            )
        return metrics

    # --- divergence ---------------------------------------------------------------------
    def divergence(self, identity: Identity) -> dict[str, Any] | None:
        """The recorded divergence of exactly `identity`; a record of other inputs is stale
        (the run is about to be trained with new inputs) and is removed."""
        path = self.out / DIVERGED
        record = _try_json(path)
        if record is None:
            return None
        old = Identity.from_dict(record.get("identity"))
        if old is not None and old.digest == identity.digest:
            return record
        _notice(f"removing {path}: it records a divergence of other inputs")
        path.unlink(missing_ok=True)
        return None

    def record_divergence(
        self, identity: Identity, message: str, numerics: dict[str, Any] | None = None
    ) -> None:
        """Record the outcome; the checkpoint goes (resuming it would only diverge again).
        `numerics` (threads, CPU capability) sit beside the message, as in metrics.json: a
        failed seed is a result, and its arm's numerics are compared like any other."""
        atomic.write_json(
            self.out / DIVERGED,
            {
                "identity": identity.to_dict(),
                "message": message,
                "time": _now(),
                **(numerics or {}),
            },
        )
        self.checkpoint.unlink(missing_ok=True)

    # --- checkpoints --------------------------------------------------------------------
    def _discard(self, path: Path, ckpt: dict[str, Any] | None) -> None:
        """Remove a checkpoint nobody will resume. The MLflow run of an unfinished attempt is
        to be ended (`abandoned_mlflow_runs`); a finished run's (its metrics.json beside the
        checkpoint) stays FINISHED."""
        run_id = (ckpt or {}).get("extra", {}).get("mlflow_run_id")
        if run_id and not (path.parent / METRICS).is_file():
            self.abandoned_mlflow_runs.append(str(run_id))
        path.unlink(missing_ok=True)
        if self.checkpoint_dir is not None:  # a final record belongs to its checkpoint
            (self.checkpoint_dir / METRICS).unlink(missing_ok=True)

    def clear(self) -> None:
        """--force: remove every output of an earlier run (and its checkpoints)."""
        for path in dict.fromkeys((self.checkpoint, self.out / CHECKPOINT)):
            if path.is_file():
                self._discard(path, _try_load(path))
        for name in OUTPUTS:
            (self.out / name).unlink(missing_ok=True)

    def resume_point(self, identity: Identity) -> dict[str, Any] | None:
        """The checkpoint to continue from: only one written for exactly `identity`."""
        from weightswitch import checkpoint

        path = self.checkpoint
        if not path.is_file():
            return None
        cache = self.checkpoint_dir is not None
        try:
            ckpt = checkpoint.load(path)
        except WeightswitchError:
            if not cache:
                raise
            _notice(f"discarding unreadable checkpoint {path}; training from the start")
            self._discard(path, None)
            return None
        old = Identity.from_dict(ckpt.get("identity"))
        if ckpt.get("version") != CHECKPOINT_VERSION or old is None:
            problem = "is from another version of weightswitch"
        elif old.digest != identity.digest:
            problem = f"was written for other inputs ({identity.changes(old)})"
        else:
            return ckpt
        if not cache:
            raise UsageError(f"{path} {problem}; pass --force to start over")
        _notice(f"discarding checkpoint {path}, which {problem}; training from the start")
        self._discard(path, ckpt)
        return None

    def save_checkpoint(self, state: TrainState, method: Method, identity: Identity) -> None:
        """Everything a resume needs (`snapshot`), stamped with the run's identity."""
        from weightswitch import checkpoint

        self.checkpoint.parent.mkdir(parents=True, exist_ok=True)
        checkpoint.save(self.checkpoint, snapshot(state, method, identity))

    def _publish_checkpoint(self) -> None:
        """Put the final checkpoint into the run directory (before metrics.json)."""
        if self.checkpoint_dir is None:
            return
        target = self.out / CHECKPOINT
        with atomic.atomic_path(target) as tmp:
            tmp.unlink()
            try:
                os.link(self.checkpoint, tmp)  # same file system: no copy
            except OSError:
                shutil.copy2(self.checkpoint, tmp)

    def finished(self, identity: Identity) -> dict[str, Any] | None:
        """The record of a finished run of `identity` kept in the checkpoint folder (None if
        there is none): a kill after the run completed but before DVC recorded the stage makes
        DVC delete the run directory; the rerun restores the final checkpoint and this record
        and rewrites the outputs without retraining."""
        if self.checkpoint_dir is None or not self.checkpoint.is_file():
            return None
        try:
            record = read_record(self.checkpoint_dir)
        except (OSError, UnreadableRecord):
            return None
        old = Identity.from_dict(record.get("identity"))
        return record if old is not None and old.digest == identity.digest else None

    # --- the run's files (run_files; docs/architecture.md, "Run outputs") --------------
    def write_config(self, cfg: RunConfig) -> None:
        atomic.write_text(self.out / CONFIG, cfg.to_json() + "\n")

    def write_history(self, history: list[dict[str, Any]]) -> None:
        atomic.write_text(self.out / HISTORY, history_csv(history))

    def _write_torch(self, name: str, obj: Any) -> None:
        import torch

        atomic.write_bytes(self.out / name, lambda f: torch.save(obj, f))

    def write_gates(self, gates: dict[str, torch.Tensor]) -> None:
        self._write_torch(GATES, gates)

    def write_exported(self, cfg: RunConfig, model: nn.Module) -> None:
        """The deployable model with what rebuilds it and its input scaling."""
        self._write_torch(
            EXPORTED,
            {
                "arch": cfg.arch,
                "dataset": cfg.dataset,
                "method": cfg.method,
                "model_kwargs": cfg.model,
                "input_norm": cfg.input_norm,
                "model": model,
            },
        )

    def complete(self, metrics: dict[str, Any]) -> None:
        """Mark the run complete: the final checkpoint goes into the run directory, the
        checkpoint folder keeps it with a copy of metrics.json (marked final: `finished`),
        then metrics.json is written. The folder's copy stays until `--force` or a run of
        other inputs replaces it (docs/architecture.md, "Run outputs"): a kill at any point
        of completion loses no epoch."""
        self._publish_checkpoint()
        if self.checkpoint_dir is not None:
            atomic.write_json(self.checkpoint_dir / METRICS, metrics)
        atomic.write_json(self.out / METRICS, metrics)


# --------------------------------------------------------------------------- checkpoint


def snapshot(state: TrainState, method: Method, identity: Identity) -> dict[str, Any]:
    """A checkpoint's payload: everything a resume needs, stamped with the run's identity
    and CHECKPOINT_VERSION (what `RunDir.resume_point` checks)."""
    from weightswitch import checkpoint

    return {
        "version": CHECKPOINT_VERSION,
        "identity": identity.to_dict(),
        "config": state.cfg.to_dict(),
        "model": state.model.state_dict(),
        "optimizers": {k: o.state_dict() for k, o in state.optimizers.items()},
        "schedules": {k: s.state_dict() for k, s in state.schedules.items()},
        "method": method.state_dict(),
        "epoch": state.epoch,
        "step": state.step,
        "total_epochs": state.total_epochs,
        "stop": state.stop,
        "history": state.history,
        "extra": state.extra,
        "rng": checkpoint.rng_state(),
    }


def restore(state: TrainState, method: Method, ckpt: dict[str, Any]) -> None:
    """Bring a freshly set-up state to the checkpoint `snapshot` wrote (structure first,
    then values)."""
    from weightswitch import checkpoint

    method.restore(state, ckpt["method"])
    state.model.load_state_dict(ckpt["model"])
    if set(ckpt["optimizers"]) != set(state.optimizers):
        raise WeightswitchError(
            f"checkpoint optimisers {sorted(ckpt['optimizers'])} do not match the method's "
            f"{sorted(state.optimizers)}; pass --force to start over"
        )
    for key, opt_state in ckpt["optimizers"].items():
        state.optimizers[key].load_state_dict(opt_state)
    for key, sched_state in ckpt["schedules"].items():
        state.schedules[key].load_state_dict(sched_state)
    state.epoch, state.step = int(ckpt["epoch"]), int(ckpt["step"])
    state.total_epochs, state.stop = int(ckpt["total_epochs"]), bool(ckpt["stop"])
    state.history = [dict(r) for r in ckpt["history"]]
    state.extra.update(ckpt["extra"])
    checkpoint.set_rng_state(ckpt["rng"])


def _try_load(path: Path) -> dict[str, Any] | None:
    from weightswitch import checkpoint

    try:
        return checkpoint.load(path)
    except WeightswitchError:
        return None
