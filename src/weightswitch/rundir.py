"""A run directory's integrity: identity, one writer, completion and resume (OpenLTH's `Desc`).

- `Identity`: everything a run's results are a function of: the semantic config, the sha256 of
  every prepared split it reads (from the data's manifest.json), and the identity of every
  parent run (`--init-from`, `--match`). Its digest is recorded inside metrics.json and every
  checkpoint; "already complete" and "resume" compare with that record, never with
  config.json, so a result is never reused for inputs it was not computed from.
- `RunLock`: an exclusive `flock` on `<run dir>/.lock` (and `<checkpoint dir>/.lock`) held
  for the whole run (train, prune, fine-tune, export). The file names its holder (pid, host,
  start time); the kernel drops the lock when the holder dies, so a lock file that can be
  locked is a dead run's, taken over with a notice.
- `RunDir`: where the checkpoint lives (the run directory, or a separate checkpoint folder
  that outlives DVC's removal of stage outputs), what "complete" means, what may be resumed;
  it writes the run's files (`write_config`, `write_history`, `save_checkpoint`, ...,
  `complete`: metrics.json last), named in `weightswitch.run_files`. A checkpoint's payload
  (`snapshot`, `restore`) is stamped with CHECKPOINT_VERSION and the identity.
  A run that diverged is an outcome of its inputs too (the switcher's recipe diverges on some
  seeds): `diverged.json` records it with the identity, so asking again for the same run
  reports the divergence at once instead of retraining to it (`--force` retrains).
"""

from __future__ import annotations

import contextlib
import datetime
import fcntl
import hashlib
import json
import os
import shutil
import socket
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from weightswitch import atomic, numerics
from weightswitch.config import PRUNE_METHODS, RunConfig, expand, flatten
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
    history_csv,
)

if TYPE_CHECKING:
    import torch
    from torch import nn

    from weightswitch.methods import Method, TrainState

CHECKPOINT_VERSION = 3  # 2: checkpoints carry the run's identity; 3: and a content checksum
PARENTS = {"init_from": "--init-from", "match": "--match"}


def _notice(message: str) -> None:
    print(f"weightswitch: notice: {message}", file=sys.stderr, flush=True)


def _short(digest: str | None) -> str:
    return (digest or "none")[:12]


# ------------------------------------------------------------------------------ identity


@dataclass(frozen=True)
class Identity:
    """What a run's results are a function of; equal identities give equal results."""

    config: dict[str, Any]  # RunConfig.fingerprint(): the semantic config
    data: dict[str, str] = field(default_factory=dict)  # {prepared file: sha256}
    parents: dict[str, str] = field(default_factory=dict)  # {"init_from": parent digest}
    numerics: dict[str, int] = field(default_factory=dict)  # weightswitch.numerics.versions

    @property
    def digest(self) -> str:
        text = json.dumps(asdict(self), sort_keys=True, default=str)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    def to_dict(self) -> dict[str, Any]:
        return {"digest": self.digest, **asdict(self)}

    @classmethod
    def from_dict(cls, data: Any) -> Identity | None:
        """The recorded identity, or None if `data` is not one (an older weightswitch)."""
        if not isinstance(data, dict) or not isinstance(data.get("config"), dict):
            return None
        return cls(
            data["config"],
            dict(data.get("data") or {}),
            dict(data.get("parents") or {}),
            dict(data.get("numerics") or {}),
        )

    def changes(self, old: Identity) -> str:
        """What differs from `old`, in words (at most three items)."""
        items: list[str] = []
        if old.numerics != self.numerics:
            items.append(
                f"numerics version {_versions(old.numerics)} -> {_versions(self.numerics)}"
            )
        fa, fb = flatten(expand(old.config)), flatten(expand(self.config))
        for key in sorted(k for k in set(fa) | set(fb) if fa.get(k) != fb.get(k)):
            items.append(f"{key}: {fa.get(key)!r} -> {fb.get(key)!r}")
        for name in sorted(set(old.data) | set(self.data)):
            if old.data.get(name) != self.data.get(name):
                items.append(
                    f"prepared {name} re-made (sha256 {_short(old.data.get(name))} -> "
                    f"{_short(self.data.get(name))})"
                )
        for key in sorted(set(old.parents) | set(self.parents)):
            if old.parents.get(key) != self.parents.get(key):
                path = (self.config.get("prune") or {}).get(key)
                items.append(
                    f"parent {PARENTS.get(key, key)} {path} retrained (identity "
                    f"{_short(old.parents.get(key))} -> {_short(self.parents.get(key))})"
                )
        return "; ".join(items[:3]) + ("; ..." if len(items) > 3 else "") or "nothing"


def _versions(numerics: dict[str, int]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(numerics.items())) or "(none recorded)"


DIVERGED_PARENT = "diverged:"  # prefix of a parent digest whose run diverged


def _parent_digest(run_dir: Path, flag: str, data: dict[str, str]) -> str:
    """A finished parent run's identity digest; a parent that diverged gives its recorded
    identity behind DIVERGED_PARENT, so the child's identity is defined and its outcome
    (nothing to start from) can be recorded too. A parent trained on other prepared data
    than today's (`data`: the child's {file: sha256}) is refused: its weights were fitted to
    a split that no longer exists (e.g. its training images are now validation images)."""
    path = run_dir / METRICS
    try:
        metrics = json.loads(path.read_bytes())
    except FileNotFoundError:
        record = _try_json(run_dir / DIVERGED)
        recorded = Identity.from_dict(record.get("identity")) if record else None
        if recorded is not None:
            return DIVERGED_PARENT + recorded.digest
        raise UsageError(f"{flag}: {path} not found (is the run finished?)") from None
    except (OSError, ValueError) as exc:
        raise UsageError(f"{flag}: cannot read {path} ({type(exc).__name__})") from None
    recorded = Identity.from_dict(metrics.get("identity") if isinstance(metrics, dict) else None)
    if recorded is None:
        raise UsageError(
            f"{flag} {run_dir}: a finished run with no recorded identity (an "
            "older weightswitch); retrain it"
        )
    changed = sorted(
        n for n in set(recorded.data) | set(data) if recorded.data.get(n) != data.get(n)
    )
    if changed:
        raise UsageError(
            f"{flag} {run_dir} was trained on other prepared data ({', '.join(changed)}: sha256 "
            f"{_short(recorded.data.get(changed[0]))} there, {_short(data.get(changed[0]))} "
            "now); retrain it"
        )
    return recorded.digest


def identity_of(cfg: RunConfig) -> Identity:
    """The identity of the run `cfg` describes (reads the manifest and parents' metrics)."""
    from weightswitch.data.manifest import MANIFEST, read_manifest, repair_command

    manifest = read_manifest(cfg.data_root, cfg.dataset)
    try:
        data = {name: str(meta["sha256"]) for name, meta in sorted(manifest["files"].items())}
    except (KeyError, TypeError):
        raise WeightswitchError(
            f"{Path(cfg.data_root) / cfg.dataset / MANIFEST} is damaged; repair: "
            f"{repair_command(cfg.data_root, cfg.dataset, manifest.get('split'))}"
        ) from None
    parents: dict[str, str] = {}
    if cfg.method in PRUNE_METHODS and cfg.prune is not None:
        for key, flag in PARENTS.items():
            path = getattr(cfg.prune, key)
            if path:
                parents[key] = _parent_digest(Path(path), flag, data)
    return Identity(cfg.fingerprint(), data, parents, numerics.versions(cfg.method))


def diverged_parents(cfg: RunConfig, identity: Identity) -> list[str]:
    """`--match PATH`-style names of the parent runs that diverged (none: an empty list)."""
    return [
        f"{PARENTS[key]} {getattr(cfg.prune, key)}"
        for key, digest in sorted(identity.parents.items())
        if digest.startswith(DIVERGED_PARENT)
    ]


# ---------------------------------------------------------------------------------- lock


class RunLocked(WeightswitchError):
    """Another live process holds the run directory."""


def _now() -> str:
    return datetime.datetime.now().astimezone().isoformat(timespec="seconds")


def _holder(record: dict[str, Any]) -> str:
    return (
        f"pid {record.get('pid', '?')} on {record.get('host', '?')} "
        f"since {record.get('started', '?')}"
    )


class RunLock:
    """Exclusive, non-blocking `flock` on one file; released (and the file removed) on exit."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.fd: int | None = None

    def _read(self, fd: int) -> dict[str, Any]:
        os.lseek(fd, 0, os.SEEK_SET)
        text = os.read(fd, 4096).decode("utf-8", "replace")
        try:
            record = json.loads(text) if text.strip() else {}
        except ValueError:
            record = {}
        return record if isinstance(record, dict) else {}

    def acquire(self, what: str) -> dict[str, Any]:
        """Take the lock; return the record of a dead holder it takes over ({} if none)."""
        host = socket.gethostname()
        while True:
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            except FileNotFoundError:  # the folder was just removed by a finishing run
                self.path.parent.mkdir(parents=True, exist_ok=True)
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                record = self._read(fd)
                if not record:  # the holder has the lock but not yet written its name
                    time.sleep(0.2)
                    record = self._read(fd)
                os.close(fd)
                raise RunLocked(
                    f"{what} is in use by another run ({_holder(record)}); wait for it to "
                    "finish or stop that process"
                ) from None
            try:  # the holder we waited on may have removed the file: lock the new one
                same = os.stat(self.path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        stale = self._read(fd)
        if stale and stale.get("host") not in (None, host):
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)
            raise RunLocked(
                f"{what} is locked by {_holder(stale)}, another machine: if that run is dead, "
                f"delete {self.path}"
            )
        record = {"pid": os.getpid(), "host": host, "started": _now()}
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(record) + "\n").encode("utf-8"), 0)
        os.fsync(fd)
        self.fd = fd
        return stale

    def release(self) -> None:
        if self.fd is None:
            return
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()  # before unlocking: a waiter then re-opens a fresh file
        fcntl.flock(self.fd, fcntl.LOCK_UN)
        os.close(self.fd)
        self.fd = None


# ------------------------------------------------------------------------------- run dir


class RunDir:
    """One run directory and (optionally) its checkpoint folder outside it.

    With `checkpoint_dir`, checkpoints are written there while the run trains (a folder DVC
    does not remove when it re-runs a stage) and the final one is linked into the run
    directory before metrics.json marks the run complete. A checkpoint there of another
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
        are removed on exit: nothing half-written, no leftover checkpoint folder."""
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
        path = self.out / METRICS
        if not path.is_file():
            return None
        try:
            metrics = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            raise UsageError(f"{self.out} holds an unreadable finished run; pass --force") from None
        old = Identity.from_dict(metrics.get("identity") if isinstance(metrics, dict) else None)
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

    def record_divergence(self, identity: Identity, message: str) -> None:
        """Record the outcome; the checkpoint goes (resuming it would only diverge again)."""
        atomic.write_json(
            self.out / DIVERGED,
            {
                "identity": identity.to_dict(),
                "message": message,
                "time": _now(),
            },
        )
        self.checkpoint.unlink(missing_ok=True)

    # --- checkpoints --------------------------------------------------------------------
    def _discard(self, path: Path, ckpt: dict[str, Any] | None) -> None:
        run_id = (ckpt or {}).get("extra", {}).get("mlflow_run_id")
        if run_id:
            self.abandoned_mlflow_runs.append(str(run_id))
        path.unlink(missing_ok=True)

    def clear(self) -> None:
        """--force: remove every output of an earlier run (and its checkpoint)."""
        for path in {self.checkpoint, *(self.out / n for n in OUTPUTS)}:
            if path.name == CHECKPOINT and path.is_file():
                self._discard(path, _try_load(path))
            path.unlink(missing_ok=True)

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

    def _forget_checkpoint(self) -> None:
        """After metrics.json: the run is complete, its resume cache goes."""
        if self.checkpoint_dir is None:
            return
        self.checkpoint.unlink(missing_ok=True)
        self._sweep()  # the folder itself goes when the lock is released

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
        """Mark the run complete: the final checkpoint goes into the run directory, then
        metrics.json is written, then the checkpoint folder's copy goes."""
        self._publish_checkpoint()
        atomic.write_json(self.out / METRICS, metrics)
        self._forget_checkpoint()


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


def _try_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _try_load(path: Path) -> dict[str, Any] | None:
    from weightswitch import checkpoint

    try:
        return checkpoint.load(path)
    except WeightswitchError:
        return None
