"""Make the tracking store hold a finished run completely (`weightswitch track`, and a run
found already complete): complete a run a kill left RUNNING, log anew one it never saw."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from weightswitch.tracking.naming import experiment_name, experiment_tags, run_tags
from weightswitch.tracking.run_outputs import final_metrics, history_rows, read_gates
from weightswitch.tracking.tracker import Tracker


def log_finished_run(run_dir: str | Path, cfg: Any) -> str:
    """Make the tracking store hold the finished run in `run_dir`, completely.

    A kill between metrics.json and the end of the MLflow run leaves that run RUNNING: it is
    completed (the epochs of history.csv it lacks, final metrics, artifacts, dataset inputs,
    FINISHED). A run the store has never seen (restored by DVC from its run cache, or trained
    against another store) is logged anew from its files. Returns "finished" (nothing to
    do), "completed", "logged" or "off" (tracking failed)."""
    import json

    from weightswitch.run_files import METRICS

    run_dir = Path(run_dir)
    metrics = json.loads((run_dir / METRICS).read_text(encoding="utf-8"))
    tracker = Tracker(experiment_name(cfg), enabled=True, tags=experiment_tags(cfg))
    return tracker._guard("log a finished run", _log_finished, tracker, run_dir, cfg, metrics) or (
        "off"
    )


def _status(tracker: Tracker, client: Any, metrics: dict[str, Any]) -> tuple[str | None, str]:
    """The status and id of the MLflow run that holds `metrics` (None: the store lacks it):
    the run metrics.json names, else one of the same identity (logged under another id)."""
    from mlflow.exceptions import MlflowException

    run_id = metrics.get("mlflow_run_id")
    if run_id:
        try:
            return client.get_run(run_id).info.status, run_id
        except MlflowException:
            pass  # not in this store
    digest = (metrics.get("identity") or {}).get("digest")
    if (done := tracker.find_run(client, digest)) is not None:
        return "FINISHED", done.info.run_id
    return None, ""


def _log_finished(tracker: Tracker, run_dir: Path, cfg: Any, metrics: dict[str, Any]) -> str:
    from weightswitch.config import flatten

    client = tracker.connect()
    status, run_id = _status(tracker, client, metrics)
    if status == "FINISHED":
        return "finished"
    if status is not None:  # RUNNING (killed after metrics.json), or ended otherwise
        tracker.attach(client, run_id)
        action = "completed"
    else:
        digest = (metrics.get("identity") or {}).get("digest")
        tags = run_tags(cfg, str(metrics.get("device")), metrics.get("git_commit"))
        tags = {**tags, "identity": digest, "weightswitch.backfilled": "true"}
        tracker._start(flatten(cfg.to_dict()), tags, None)
        action = "logged"
    for step, row in history_rows(run_dir):  # the epochs the MLflow run lacks
        tracker._log_metrics(row, step)
    tracker._log_metrics(final_metrics(metrics), step=int(metrics.get("epochs") or 0))
    tracker._log_artifacts(run_dir, read_gates(run_dir))
    tracker._client.set_terminated(tracker.run_id, "FINISHED")
    print(f"{run_dir}: MLflow run {tracker.run_id} {action}", file=sys.stderr)
    return action
