"""MLflow tracking: one MLflow run per training run, and never a reason for a run to fail.

Store: `MLFLOW_TRACKING_URI` if set, else `sqlite:///<project root>/mlflow.db` with artifacts
in `mlartifacts/` beside the database (set when the experiment is created, so artifacts never
land in whatever directory the run started from). Any tracking error (server down, locked
database, bad URI) disables tracking for the rest of the run with ONE warning line on stderr;
the run's own outputs are written regardless. The store is probed first (`probe_store`), so
a dead server or an unwritable database costs seconds, not mlflow's minutes of retries.
mlflow is imported lazily (it is slow).
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import torch

from weightswitch import tensorfile
from weightswitch.provenance import project_root
from weightswitch.run_files import CONFIG, EXPORTED, GATES, HISTORY, METRICS

MAX_BATCH = 100  # MLflow's per-call limit for params and tags
PROBE_TIMEOUT = 5.0  # seconds: a store that fails costs at most this (twice) and one line
SQLITE_WAIT = 5.0  # seconds a call waits on a locked SQLite store (mlflow's own: 20 s a call)

# Experiment tag the MLflow 3 UI reads to open an experiment in its model-training view
# (instead of the GenAI view it guesses for an experiment without it).
EXPERIMENT_KIND = ("mlflow.experimentKind", "custom_model_development")
ZERO_COLOR = "#d62728"  # exactly-zero gates, as in the report's gate maps


# --------------------------------------------------------------------------- naming


def experiment_name(cfg: Any) -> str:
    """One MLflow experiment per grid x profile, so budgets never mix in one table."""
    if cfg.experiment:
        return str(cfg.experiment)
    return f"weightswitch/{cfg.grid or 'adhoc'}/{cfg.profile}"


def target_sparsity(cfg: Any) -> float | None:
    """The fixed sparsity of a frontier point (`--sparsity`, no `--match`), else None."""
    prune = getattr(cfg, "prune", None)
    if prune is None or prune.sparsity is None or prune.match is not None:
        return None
    return float(prune.sparsity)


def mlflow_run_name(cfg: Any) -> str:
    """The budget first, then method, arch and seed, then the dataset: the UI's name column
    shows about 22 characters beside its assistant panel, and two budgets of one run looked
    identical there when the profile came last (issue 38). A frontier point carries its
    sparsity (`magnitude@90%`), or its points would share one name."""
    method = cfg.method
    if (sparsity := target_sparsity(cfg)) is not None:
        method = f"{method}@{100 * sparsity:g}%"
    return f"[{cfg.profile}] {method} {cfg.arch} s{cfg.seed} {cfg.dataset}"


def run_tags(cfg: Any, device: str, commit: str | None) -> dict[str, Any]:
    """Tags to filter and compare by (docs/dvc-mlflow.md, "MLflow, DVC and the reports");
    None values are dropped."""
    name = mlflow_run_name(cfg)
    return {
        "run_name": name,
        "mlflow.runName": name,
        "git_commit": commit,
        "mlflow.source.git.commit": commit,
        "method": cfg.method,
        "arch": cfg.arch,
        "dataset": cfg.dataset,
        "seed": cfg.seed,
        "target_sparsity": target_sparsity(cfg),
        "grid": cfg.grid or "adhoc",
        "profile": cfg.profile,
        # set by DVC in `dvc exp run` / queued experiments; absent for a plain `dvc repro`
        "dvc_exp": os.environ.get("DVC_EXP_NAME"),
        "dvc_baseline": os.environ.get("DVC_EXP_BASELINE_REV"),
        "device": device,
        "out": str(Path(cfg.out or ".").resolve()),
    }


def experiment_tags(cfg: Any) -> dict[str, str]:
    return {
        EXPERIMENT_KIND[0]: EXPERIMENT_KIND[1],
        "grid": cfg.grid or "adhoc",
        "profile": str(cfg.profile),
    }


def tracking_uri() -> str:
    uri = os.environ.get("MLFLOW_TRACKING_URI")
    if uri:
        return uri
    return f"sqlite:///{project_root() / 'mlflow.db'}"


def artifact_location(uri: str) -> str | None:
    """`mlartifacts/` beside a SQLite store; None (the server decides) otherwise."""
    if not uri.startswith("sqlite:///"):
        return None
    db = Path(uri[len("sqlite:///") :]).resolve()
    return (db.parent / "mlartifacts").as_uri()


def _quiet_mlflow() -> None:
    """Before importing mlflow: fail fast on a dead server instead of minutes of retries
    (user settings win). One failing request then costs at most PROBE_TIMEOUT seconds, and
    the first failure turns tracking off."""
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "0")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", str(int(PROBE_TIMEOUT)))


def probe_store(uri: str, timeout: float = PROBE_TIMEOUT) -> None:
    """Raise within `timeout` seconds if the store at `uri` cannot take a run.

    mlflow itself retries an unreachable server or an unwritable SQLite file for minutes,
    logging every attempt; this check costs one short request, connection or file write."""
    scheme = urlparse(uri).scheme
    if scheme in ("http", "https"):
        import urllib.error
        import urllib.request

        # an HTTP error status still means a server answers (a proxy's 404, an auth check)
        with contextlib.suppress(urllib.error.HTTPError):
            urllib.request.urlopen(uri.rstrip("/") + "/health", timeout=timeout).close()
    elif scheme == "sqlite":
        path = uri[len("sqlite:///") :].split("?")[0]
        if path and path != ":memory:":
            conn = sqlite3.connect(path, timeout=timeout)
            try:
                conn.execute("BEGIN IMMEDIATE")  # needs a writable file and its write lock
                conn.rollback()
            finally:
                conn.close()
    elif scheme in ("", "file"):
        folder = Path(urlparse(uri).path if scheme == "file" else uri)
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".probe-"):
            pass


def _bound_sqlite_wait() -> None:
    """mlflow sets `PRAGMA busy_timeout = 20000` on every SQLite session, so each call on a
    locked store waits 20 s; rewrite that statement to SQLITE_WAIT, so a store locked mid-run
    costs one call's SQLITE_WAIT and one line (the first failure turns tracking off)."""
    global _BOUNDED
    if _BOUNDED:
        return
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    def shorter_wait(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("PRAGMA BUSY_TIMEOUT"):
            statement = f"PRAGMA busy_timeout = {int(SQLITE_WAIT * 1000)};"
        return statement, parameters

    event.listen(Engine, "before_cursor_execute", shorter_wait, retval=True)
    _BOUNDED = True


_BOUNDED = False


def _chunks(items: list[Any], size: int = MAX_BATCH) -> Iterable[list[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


class Tracker:
    """Failure-tolerant wrapper over `MlflowClient`; every method is a no-op once disabled."""

    def __init__(
        self, experiment: str, enabled: bool = True, tags: dict[str, str] | None = None
    ) -> None:
        self.experiment = experiment
        self.experiment_tags = {EXPERIMENT_KIND[0]: EXPERIMENT_KIND[1], **(tags or {})}
        self.enabled = enabled
        self.run_id: str | None = None
        self.warned = False
        self._client: Any = None

    def _fail(self, what: str, exc: BaseException) -> None:
        self.enabled = False
        if not self.warned:
            self.warned = True
            msg = (str(exc).strip().splitlines() or [""])[0][:200]
            print(
                f"weightswitch: warning: MLflow tracking off for this run ({what}: "
                f"{type(exc).__name__}: {msg}); run outputs are still written",
                file=sys.stderr,
                flush=True,
            )

    def _guard(self, what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        if not self.enabled:
            return None
        try:
            return fn(*args, **kwargs)
        except Exception as exc:  # tracking must never break a run
            self._fail(what, exc)
            return None

    # --- run life cycle -----------------------------------------------------------------
    def start(self, params: dict[str, Any], tags: dict[str, Any], run_id: str | None) -> None:
        """Create the MLflow run (or continue `run_id` on resume)."""
        self._guard("start", self._start, params, tags, run_id)

    def _start(self, params: dict[str, Any], tags: dict[str, Any], run_id: str | None) -> None:
        _quiet_mlflow()
        uri = tracking_uri()
        probe_store(uri)
        from mlflow.entities import Param, RunTag
        from mlflow.exceptions import MlflowException
        from mlflow.tracking import MlflowClient

        # after import (mlflow sets its own levels): failures reach the user as our one line
        for name in ("mlflow", "alembic", "sqlalchemy", "urllib3"):  # mlflow logs a
            logging.getLogger(name).setLevel(logging.CRITICAL)  # 60-line traceback at ERROR
        _bound_sqlite_wait()

        client = MlflowClient(tracking_uri=uri)
        if run_id is not None:
            try:
                client.update_run(run_id, status="RUNNING")
                self._client, self.run_id = client, run_id
                return
            except MlflowException:
                pass  # that run is not in this store: start a new one
        exp = client.get_experiment_by_name(self.experiment)
        if exp is not None:
            exp_id = exp.experiment_id
            for key, value in self.experiment_tags.items():
                if exp.tags.get(key) is None:  # never override what a user chose in the UI
                    client.set_experiment_tag(exp_id, key, value)
        else:
            try:
                exp_id = client.create_experiment(
                    self.experiment,
                    artifact_location=artifact_location(uri),
                    tags=self.experiment_tags,
                )
            except MlflowException:  # created concurrently by another run
                exp_id = client.get_experiment_by_name(self.experiment).experiment_id
        str_tags = {k: str(v) for k, v in tags.items() if v is not None}
        run = client.create_run(exp_id, run_name=tags.get("run_name"), tags=str_tags)
        self._client, self.run_id = client, run.info.run_id
        plist = [Param(k, "null" if v is None else str(v)) for k, v in sorted(params.items())]
        for chunk in _chunks(plist):
            client.log_batch(self.run_id, params=chunk)
        client.log_batch(self.run_id, tags=[RunTag("weightswitch.resumable", "true")])

    def log_metrics(self, metrics: dict[str, float], step: int) -> None:
        self._guard("log metrics", self._log_metrics, metrics, step)

    def _log_metrics(self, metrics: dict[str, float], step: int) -> None:
        if self._client is None:
            return
        import time

        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        items = [Metric(k, float(v), now, step) for k, v in metrics.items() if v is not None]
        for chunk in _chunks(items, 1000):
            self._client.log_batch(self.run_id, metrics=chunk)

    def log_artifacts(self, run_dir: Path, gates: dict[str, torch.Tensor] | None) -> None:
        """The run directory's RUN_FILES, and figures of the gates (if any)."""
        self._guard("log artifacts", self._log_artifacts, run_dir, gates)

    def _log_artifacts(self, run_dir: Path, gates: dict[str, torch.Tensor] | None) -> None:
        if self._client is None:
            return
        for f in (run_dir / name for name in RUN_FILES):
            if f.is_file():
                self._client.log_artifact(self.run_id, str(f))
        if gates:
            with tempfile.TemporaryDirectory(prefix="ws-gates-") as tmp:
                for path in gate_figures(gates, Path(tmp)):
                    self._client.log_artifact(self.run_id, str(path), artifact_path="gates")

    def _log_finished(self, run_dir: Path, cfg: Any, metrics: dict[str, Any]) -> str:
        from weightswitch.config import flatten

        _quiet_mlflow()
        uri = tracking_uri()
        probe_store(uri)
        from mlflow.exceptions import MlflowException
        from mlflow.tracking import MlflowClient

        _bound_sqlite_wait()
        client = MlflowClient(tracking_uri=uri)
        run_id = metrics.get("mlflow_run_id")
        status = None
        if run_id:
            try:
                status = client.get_run(run_id).info.status
            except MlflowException:
                status = None  # not in this store
        digest = (metrics.get("identity") or {}).get("digest")
        if status is None and digest:  # logged before under another id (a backfill)?
            exp = client.get_experiment_by_name(self.experiment)
            if exp is not None:
                found = client.search_runs([exp.experiment_id], f"tags.identity = '{digest}'")
                status = "FINISHED" if any(r.info.status == "FINISHED" for r in found) else None
        if status == "FINISHED":
            return "finished"
        if status is not None:  # RUNNING (killed after metrics.json), or ended otherwise
            self._client, self.run_id = client, run_id
            action = "completed"
        else:
            tags = run_tags(cfg, str(metrics.get("device")), metrics.get("git_commit"))
            tags = {**tags, "identity": digest, "weightswitch.backfilled": "true"}
            self._start(flatten(cfg.to_dict()), tags, None)
            for row in _history_rows(run_dir):
                step = int(row.pop("epoch", 0))
                row.pop("phase", None)
                self._log_metrics(row, step)
            action = "logged"
        self._log_metrics(final_metrics(metrics), step=int(metrics.get("epochs") or 0))
        self._log_artifacts(run_dir, _gates(run_dir))
        self._client.set_terminated(self.run_id, "FINISHED")
        print(f"{run_dir}: MLflow run {self.run_id} {action}", file=sys.stderr)
        return action

    def end_others(self, run_ids: Iterable[str], status: str) -> None:
        """Close the MLflow runs of abandoned attempts (discarded checkpoints) as `status`."""
        for run_id in run_ids:
            if self._client is not None and self.enabled and run_id != self.run_id:
                with contextlib.suppress(Exception):  # a run of another store: nothing to end
                    self._client.set_terminated(run_id, status)

    def end(self, status: str = "FINISHED", outcome: str | None = None) -> None:
        """status: FINISHED | FAILED | KILLED. `outcome` (a FAILED run's why, e.g. "diverged")
        becomes the tag `outcome`, so the UI can filter it: tags.outcome = 'diverged'."""
        if self._client is not None:
            if outcome:
                self._guard("tag", self._client.set_tag, self.run_id, "outcome", outcome)
            self._guard("end", self._client.set_terminated, self.run_id, status)


# ------------------------------------------------------------------ finished runs (repair)

FINAL_KEYS = (
    "test_accuracy",
    "exported_test_accuracy",
    "compression_ratio",
    "snn_params",
    "fc_macs_removed",
    "epoch_seconds",
    "wall_seconds",
)
RUN_FILES = (METRICS, HISTORY, CONFIG, EXPORTED)  # logged as artifacts


def final_metrics(metrics: dict[str, Any]) -> dict[str, float]:
    """Run-level numbers; names differ from the per-epoch series so none gets a second point."""
    flat = {k: metrics[k] for k in FINAL_KEYS if isinstance(metrics.get(k), (int, float))}
    flat["final_val_accuracy"] = metrics["val_accuracy"]
    flat["final_fc_sparsity"] = metrics["fc_sparsity"]
    for layer, value in (metrics.get("layer_sparsity") or {}).items():
        flat[f"layer_sparsity.{layer}"] = value
    return flat


def _history_rows(run_dir: Path) -> list[dict[str, float]]:
    import csv

    rows = []
    with contextlib.suppress(OSError), (run_dir / HISTORY).open() as f:
        for row in csv.DictReader(f):
            numbers = {}
            for key, value in row.items():
                with contextlib.suppress(TypeError, ValueError):
                    numbers[key] = float(value)
            rows.append(numbers)
    return rows


def _gates(run_dir: Path) -> dict[str, torch.Tensor] | None:
    path = run_dir / GATES
    if not path.is_file():
        return None
    with contextlib.suppress(Exception):
        return tensorfile.read(path)
    return None


def log_finished_run(run_dir: str | Path, cfg: Any) -> str:
    """Make the tracking store hold the finished run in `run_dir`, completely.

    A kill between metrics.json and the end of the MLflow run leaves that run RUNNING: it is
    completed (final metrics, artifacts, FINISHED). A run the store has never seen (restored by
    DVC from its run cache, or trained against another store) is logged anew from its files.
    Returns "finished" (nothing to do), "completed", "logged" or "off" (tracking failed)."""
    import json

    run_dir = Path(run_dir)
    metrics = json.loads((run_dir / METRICS).read_text(encoding="utf-8"))
    tracker = Tracker(experiment_name(cfg), enabled=True, tags=experiment_tags(cfg))
    return (
        tracker._guard("log a finished run", tracker._log_finished, run_dir, cfg, metrics) or "off"
    )


# --------------------------------------------------------------------------- gate figures


def _pool(image: torch.Tensor, max_side: int = 512, op: str = "mean") -> torch.Tensor:
    """Block-mean (or block-max) pool so neither side exceeds `max_side` (a 4096x4096 map
    stays drawable)."""
    h, w = image.shape
    kh, kw = -(-h // max_side), -(-w // max_side)
    if (kh, kw) == (1, 1):
        return image
    x = image[None, None]
    if op == "max":
        pooled = torch.nn.functional.max_pool2d(x, (kh, kw), ceil_mode=True)
    else:
        pooled = torch.nn.functional.avg_pool2d(
            x, (kh, kw), ceil_mode=True, count_include_pad=False
        )
    return pooled[0, 0]


def gate_figures(gates: dict[str, torch.Tensor], out: Path) -> list[Path]:
    """One histogram PNG and one gate-map PNG (in x out, as the study draws them) per layer."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    paths: list[Path] = []
    for name, g in gates.items():
        g = g.float()
        flat = g.flatten()
        zero = float((flat == 0).float().mean())
        safe = name.replace("/", "_")
        fig, ax = plt.subplots(figsize=(5, 3.2))
        positive = flat[flat > 0].numpy()
        ax.hist(positive, bins=60, color="#3b6ea8")
        ax.set_xlabel("gate value (positive gates)")
        ax.set_ylabel("count")
        ax.set_title(f"{name}: {zero:.1%} of {flat.numel()} gates are exactly 0", fontsize=9)
        fig.tight_layout()
        paths.append(out / f"{safe}_hist.png")
        fig.savefig(paths[-1], dpi=110)
        plt.close(fig)

        image = g.T if g.dim() == 2 else g[:, None]  # rows: input units
        fig, ax = plt.subplots(figsize=(4.5, 4.5))
        # like the report: a pixel is red when every gate it covers is exactly zero
        cmap = matplotlib.colormaps["viridis"].with_extremes(bad=ZERO_COLOR)
        zero = (_pool(image.abs(), op="max") == 0).numpy()
        rows, cols = image.shape  # axes in units even when the image is pooled for display
        masked = np.ma.masked_array(_pool(image).numpy(), mask=zero)
        shown = ax.imshow(
            masked, aspect="auto", cmap=cmap, interpolation="nearest", extent=(0, cols, rows, 0)
        )
        fig.colorbar(shown, ax=ax, shrink=0.8, label="gate (red: exactly 0)")
        ax.set_xlabel("output unit" if g.dim() == 2 else "")
        ax.set_ylabel("input unit")
        ax.set_title(f"{name} gates ({rows} x {cols}, rows: input units)", fontsize=9)
        fig.tight_layout()
        paths.append(out / f"{safe}_map.png")
        fig.savefig(paths[-1], dpi=110)
        plt.close(fig)
    return paths
