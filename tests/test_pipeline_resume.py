"""`kill -9` of `dvc repro` during a train stage, then `dvc repro` again: the stage continues
from its last checkpoint (kept outside the stage's outputs, which DVC removes), ends with the
metrics of an uninterrupted run, `dvc status` is clean, and the killed attempt's MLflow run
is continued (never left RUNNING). Real dvc, real processes, SIGKILL to the whole group.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from test_pipeline_e2e import project, sh  # noqa: F401 - `project`: the e2e test's fixture

STAGE = "train@model0-dense-0"
RUN = "fashion_mnist-lenet300-dense-s0"
EPOCHS = 60


def rows(path: Path) -> int:
    try:
        return max(len(path.read_text().splitlines()) - 1, 0)
    except FileNotFoundError:
        return 0


def comparable(run: Path) -> tuple:
    import json

    m = json.loads((run / "metrics.json").read_text())
    history = [line.split(",")[:-1] for line in (run / "history.csv").read_text().splitlines()]
    return tuple(m[k] for k in ("test_accuracy", "val_accuracy", "epochs")), history


@pytest.mark.e2e
def test_killed_stage_resumes_from_its_checkpoint(project: tuple[Path, dict]) -> None:  # noqa: F811
    repo, env = project
    params_file = repo / "params.yaml"
    params = yaml.safe_load(params_file.read_text())
    params["recipe"]["epochs"] = EPOCHS  # long enough to be killed mid-run
    params_file.write_text(yaml.safe_dump(params, sort_keys=False))
    run = repo / "results" / "runs" / "smoke" / RUN
    ckpt_dir = repo / "results" / "checkpoints" / "smoke" / RUN

    proc = subprocess.Popen(
        ["dvc", "repro", STAGE],
        cwd=repo,
        env=env,
        start_new_session=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 300
    while rows(run / "history.csv") < 3:
        assert proc.poll() is None, proc.communicate()[0]
        assert time.monotonic() < deadline, "the stage did not reach epoch 3"
        time.sleep(0.005)
    os.killpg(proc.pid, signal.SIGKILL)  # dvc and the stage's process: a crash
    proc.wait()
    assert not (run / "metrics.json").exists() and (ckpt_dir / "checkpoint.pt").is_file()

    out = sh(["dvc", "repro", STAGE], repo, env)
    resumed = re.search(r"resuming after epoch (\d+)/(\d+)", out)
    assert resumed is not None, out
    assert int(resumed[1]) >= 2 and int(resumed[2]) == EPOCHS, out
    assert "up to date" in sh(["dvc", "status", STAGE], repo, env).lower()
    assert (run / "checkpoint.pt").is_file()
    # the final checkpoint stays, marked final, for a kill before DVC records the stage
    assert (ckpt_dir / "metrics.json").read_bytes() == (run / "metrics.json").read_bytes()
    assert sorted(p.name for p in ckpt_dir.iterdir()) == ["checkpoint.pt", "metrics.json"]

    reference = repo / "uninterrupted"  # the stage's command, elsewhere, same thread count
    sh(
        [
            "weightswitch",
            "train",
            "--params",
            "params.yaml",
            "--dataset",
            "fashion_mnist",
            "--arch",
            "lenet300",
            "--method",
            "dense",
            "--seed",
            "0",
            "--out",
            str(reference),
            "--no-mlflow",
        ],
        repo,
        env,
    )
    assert comparable(run) == comparable(reference)

    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{repo / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("weightswitch/mini/smoke")  # one per grid x profile
    runs = client.search_runs([experiment.experiment_id], "tags.method = 'dense'")
    assert [r.info.status for r in runs] == ["FINISHED"]  # the killed attempt, continued
