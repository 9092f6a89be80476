"""MLflow tracking, failure tolerant: one concern per module.

`store` (where the store is, the probe, a fail-fast client) and `naming` (experiment, run
name, tags) < `run_outputs` (what MLflow takes from a run directory), `figures` (gate
figures), `lineage` (dataset inputs, the logged model) < `tracker` (`Tracker`: one MLflow
run per training run) < `finished` (`log_finished_run`: `weightswitch track`)."""

from weightswitch.tracking.figures import gate_figures
from weightswitch.tracking.finished import log_finished_run
from weightswitch.tracking.naming import (
    experiment_name,
    experiment_tags,
    mlflow_run_name,
    run_tags,
    target_sparsity,
)
from weightswitch.tracking.run_outputs import final_metrics
from weightswitch.tracking.store import artifact_location, probe_store, tracking_uri
from weightswitch.tracking.tracker import Tracker

__all__ = [
    "Tracker",
    "artifact_location",
    "experiment_name",
    "experiment_tags",
    "final_metrics",
    "gate_figures",
    "log_finished_run",
    "mlflow_run_name",
    "probe_store",
    "run_tags",
    "target_sparsity",
    "tracking_uri",
]
