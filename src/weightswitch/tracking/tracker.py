"""One MLflow run per training run, and never a reason for a run to fail.

Any tracking error (server down, locked or read-only database, bad URI) disables tracking
for the rest of the run with ONE warning line on stderr; the run's own outputs are written
regardless. One run identity keeps one MLflow run: a resume continues the run its checkpoint
names, and a run whose identity already has a FINISHED MLflow run (the stage re-run after a
kill) reuses that run instead of adding a second; a point the run already holds (a metric at
an epoch, its model) is not logged again, but a run-level metric whose value changed is (its
latest value is the run's record: a `--force` retrain on another device).
"""

from __future__ import annotations

import contextlib
import sys
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from weightswitch.tracking.figures import gate_figures
from weightswitch.tracking.lineage import dataset_inputs, log_pytorch_model
from weightswitch.tracking.naming import EXPERIMENT_KIND
from weightswitch.tracking.run_outputs import RUN_FILES, is_final, read_metrics
from weightswitch.tracking.store import artifact_location, connect, tracking_uri

MAX_BATCH = 100  # MLflow's per-call limit for params and tags
MAX_METRICS = 1000  # ... and for metrics


def _chunks(items: list[Any], size: int = MAX_BATCH) -> Iterable[list[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def held_metrics(client: Any, run_id: str) -> dict[str, tuple[int, float]]:
    """(last step, its latest value) of every metric the MLflow run `run_id` holds."""
    held = {}
    for key in client.get_run(run_id).data.metrics:
        last = max(client.get_metric_history(run_id, key), key=lambda m: (m.step, m.timestamp))
        held[key] = (last.step, last.value)
    return held


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
        self.held: dict[str, tuple[int, float]] = {}  # metric -> (last step, value) in MLflow
        self.uri = ""
        self._client: Any = None

    def _fail(self, what: str, exc: BaseException) -> None:
        self.enabled = False
        if not self.warned:
            self.warned = True
            msg = (str(exc).strip().splitlines() or [""])[0][:300]
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

    # --- the MLflow run ------------------------------------------------------------------
    def connect(self) -> Any:
        self.uri = tracking_uri()
        return connect(self.uri)

    def experiment_id(self, client: Any) -> str:
        """This tracker's experiment, created on first use (tags a user set are kept)."""
        from mlflow.exceptions import MlflowException

        exp = client.get_experiment_by_name(self.experiment)
        if exp is not None:
            for key, value in self.experiment_tags.items():
                if exp.tags.get(key) is None:  # never override what a user chose in the UI
                    client.set_experiment_tag(exp.experiment_id, key, value)
            return exp.experiment_id
        try:
            return client.create_experiment(
                self.experiment,
                artifact_location=artifact_location(self.uri),
                tags=self.experiment_tags,
            )
        except MlflowException:  # created concurrently by another run
            return client.get_experiment_by_name(self.experiment).experiment_id

    def find_run(self, client: Any, identity: str | None, status: str = "FINISHED") -> Any:
        """The latest MLflow run of this experiment tagged with `identity` in `status`."""
        exp = client.get_experiment_by_name(self.experiment)
        if exp is None or not identity:
            return None
        found = client.search_runs([exp.experiment_id], f"tags.identity = '{identity}'")
        return next((r for r in found if r.info.status == status), None)

    def attach(self, client: Any, run_id: str) -> None:
        """Continue the MLflow run `run_id` (RUNNING again), knowing what it holds."""
        client.update_run(run_id, status="RUNNING")
        self._client, self.run_id = client, run_id
        self.held = held_metrics(client, run_id)

    # --- run life cycle -----------------------------------------------------------------
    def start(self, params: dict[str, Any], tags: dict[str, Any], run_id: str | None) -> None:
        """Create the MLflow run (or continue `run_id` on resume, or reuse the FINISHED run
        of the same identity)."""
        self._guard("start", self._start, params, tags, run_id)

    def _start(self, params: dict[str, Any], tags: dict[str, Any], run_id: str | None) -> None:
        from mlflow.entities import Param, RunTag
        from mlflow.exceptions import MlflowException

        client = self.connect()
        str_tags = {k: str(v) for k, v in tags.items() if v is not None}
        if run_id is not None:
            try:
                return self.attach(client, run_id)
            except MlflowException:
                pass  # that run is not in this store: start a new one
        if (done := self.find_run(client, tags.get("identity"))) is not None:
            self.attach(client, done.info.run_id)  # its params are this identity's already
            items = [RunTag(k, v) for k, v in str_tags.items()]
            for chunk in _chunks(items):
                client.log_batch(self.run_id, tags=chunk)
            return None
        exp_id = self.experiment_id(client)
        run = client.create_run(exp_id, run_name=tags.get("run_name"), tags=str_tags)
        self._client, self.run_id, self.held = client, run.info.run_id, {}
        plist = [Param(k, "null" if v is None else str(v)) for k, v in sorted(params.items())]
        for chunk in _chunks(plist):
            client.log_batch(self.run_id, params=chunk)
        client.log_batch(self.run_id, tags=[RunTag("weightswitch.resumable", "true")])
        return None

    def log_metrics(self, metrics: dict[str, float], step: int) -> None:
        self._guard("log metrics", self._log_metrics, metrics, step)

    def _log_metrics(self, metrics: dict[str, float], step: int) -> None:
        if self._client is None:
            return
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        items = [
            Metric(k, float(v), now, step)
            for k, v in metrics.items()
            if v is not None and not self._holds(k, float(v), step)
        ]
        for chunk in _chunks(items, MAX_METRICS):
            self._client.log_batch(self.run_id, metrics=chunk)
        self.held.update({m.key: (step, m.value) for m in items})

    def _holds(self, key: str, value: float, step: int) -> bool:
        """Whether the run holds this point already: a per-epoch series holds every step up
        to its last (history.csv's rounded numbers do not add a second point to an epoch),
        a run-level metric only its latest value."""
        last = self.held.get(key)
        if last is None or step > last[0]:
            return False
        return not is_final(key) or last[1] == value

    def log_artifacts(self, run_dir: Path, gates: dict[str, torch.Tensor] | None) -> None:
        """The run directory's RUN_FILES, figures of the gates (if any) and, once the run is
        finished, the prepared splits it read as the run's dataset inputs."""
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
        metrics = read_metrics(run_dir)
        if metrics is not None and (inputs := dataset_inputs(metrics)):
            self._client.log_inputs(self.run_id, datasets=inputs)

    def log_model(self, model: nn.Module) -> None:
        """The finished (exported) network as the run's PyTorch model (MLflow's "Models")."""
        if self._client is not None:
            self._guard("log model", log_pytorch_model, self._client, self.run_id, model)

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
