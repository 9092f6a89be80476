"""MLflow tracking: what a run logs (queried back with MlflowClient), resume into the same
MLflow run, and runs that complete with one warning when tracking fails."""

from __future__ import annotations

import contextlib
import json
import socket
import time
from pathlib import Path
from typing import Any

import pytest

from weightswitch.cli import main
from weightswitch.provenance import project_root
from weightswitch.tracking import Tracker, artifact_location, tracking_uri


def train_cli(root: Path, out: Path, method: str, *extra: str) -> int:
    return main(
        [
            "train",
            "--arch",
            "lenet300",
            "--dataset",
            "mnist",
            "--method",
            method,
            "--root",
            str(root),
            "--out",
            str(out),
            "--set",
            "model.hidden=[32,16]",
            "--device",
            "cpu",
            "--profile",
            "test",
            "--experiment",
            "ws-test",
            *extra,
        ]
    )


def test_run_contents_and_resume_into_same_mlflow_run(
    prepared_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlflow.tracking import MlflowClient

    from weightswitch.train import runner

    uri = f"sqlite:///{tmp_path / 'store' / 'mlflow.db'}"
    (tmp_path / "store").mkdir()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("DVC_EXP_NAME", "tidy-bass")  # what `dvc exp run` sets
    out = tmp_path / "run"

    class Killer(runner.Progress):
        def on_epoch_end(self, state: Any, row: dict[str, Any]) -> None:
            super().on_epoch_end(state, row)
            raise KeyboardInterrupt

    with monkeypatch.context() as mp:
        mp.setattr(runner, "Progress", Killer)
        assert train_cli(prepared_root, out, "switcher", "--epochs", "2") == 130
    assert train_cli(prepared_root, out, "switcher", "--epochs", "2") == 0

    client = MlflowClient(uri)
    exp = client.get_experiment_by_name("ws-test")
    assert exp.artifact_location == (tmp_path / "store" / "mlartifacts").as_uri()
    assert exp.tags["mlflow.experimentKind"] == "custom_model_development"  # training view
    (run,) = client.search_runs([exp.experiment_id])  # the resume continued the same run
    run_id = run.info.run_id
    assert run.info.status == "FINISHED"
    assert json.loads((out / "metrics.json").read_text())["mlflow_run_id"] == run_id
    params = run.data.params
    assert params["method"] == "switcher" and params["optimizer.lr"] == "0.1"
    assert params["switcher.phase_unit"] == "epoch" and params["model.hidden"] == "[32, 16]"
    assert params["switcher.snn_optimizer.lr"] == "0.1" and params["prune"] == "null"
    tags = run.data.tags
    assert {k: tags[k] for k in ("method", "arch", "dataset", "profile", "seed")} == {
        "method": "switcher",
        "arch": "lenet300",
        "dataset": "mnist",
        "profile": "test",
        "seed": "0",
    }
    assert "git_commit" in tags and run.info.run_name == "[test] switcher lenet300 s0 mnist"
    assert tags["grid"] == "fashion"  # no --params: conf/'s default grid
    assert tags["dvc_exp"] == "tidy-bass"
    steps = [m.step for m in client.get_metric_history(run_id, "val_accuracy")]
    assert steps == [1, 2]
    assert [m.step for m in client.get_metric_history(run_id, "lr_snn")] == [1, 2]
    assert {"test_accuracy", "final_fc_sparsity", "layer_sparsity.fc1"} <= set(run.data.metrics)
    top = {Path(a.path).name for a in client.list_artifacts(run_id)}
    assert {"metrics.json", "history.csv", "config.json", "model_exported.pt", "gates"} <= top
    figures = {Path(a.path).name for a in client.list_artifacts(run_id, "gates")}
    assert figures == {f"fc{i}_{kind}.png" for i in (1, 2, 3) for kind in ("hist", "map")}
    record = json.loads((out / "metrics.json").read_text())
    inputs = {i.tags[0].value: i.dataset for i in run.inputs.dataset_inputs}  # by context
    assert set(inputs) == {"train", "val", "test"}  # MLflow's "Dataset" column
    for split, dataset in inputs.items():
        sha256 = record["identity"]["data"][f"{split}.pt"]
        assert dataset.name == f"mnist-{split}" and sha256.startswith(dataset.digest)
        assert len(dataset.digest) == 36 and json.loads(dataset.profile)["sha256"] == sha256
    assert len(run.outputs.model_outputs) == 1  # MLflow's "Models" column: one model a run


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def silent_server() -> Any:
    """A real TCP server that accepts connections and never answers (a hung tracking server)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(16)
        yield f"http://127.0.0.1:{s.getsockname()[1]}"


def failing_store(kind: str, tmp_path: Path, silent: str) -> str:
    (tmp_path / "a-file").write_text("not a directory")
    return {
        "server-down": f"http://127.0.0.1:{_free_port()}",
        "server-hangs": silent,
        "bad-scheme": "bogus://nowhere",
        "unwritable-sqlite": f"sqlite:///{tmp_path / 'a-file' / 'mlflow.db'}",
        "sqlite-in-proc": "sqlite:////proc/mlflow.db",
        "unwritable-file-store": "file:///proc/mlruns",
    }[kind]


def read_only_sqlite(tmp_path: Path, how: str) -> Path:
    """A SQLite store that opens and locks but refuses writes: a 0444 file (as a user; root
    writes it anyway), or a database whose header marks it read-only (SQLite's file format
    write version 3: read-only for everyone)."""
    import sqlite3

    db = tmp_path / "ro" / "mlflow.db"
    db.parent.mkdir()
    with contextlib.closing(sqlite3.connect(db)) as conn:
        conn.execute("CREATE TABLE t (x)")
        conn.commit()
    if how == "file-mode":
        db.chmod(0o444)
    else:
        header = bytearray(db.read_bytes())
        header[18] = 3  # the file format write version
        db.write_bytes(bytes(header))
    return db


@pytest.mark.parametrize("how", ["file-mode", "database-header"])
def test_a_read_only_store_is_one_line_naming_it_and_the_run_goes_on(
    prepared_root: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    how: str,
) -> None:
    import os

    if how == "file-mode" and os.geteuid() == 0:
        pytest.skip("root writes a 0444 file: the database-header case covers root")
    db = read_only_sqlite(tmp_path, how)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{db}")
    out = tmp_path / "run"
    assert train_cli(prepared_root, out, "dense", "--epochs", "1") == 0
    assert (out / "metrics.json").is_file()
    warnings = [line for line in capsys.readouterr().err.splitlines() if "warning" in line]
    assert len(warnings) == 1 and "MLflow tracking off" in warnings[0], warnings
    assert str(db) in warnings[0] and "MLFLOW_TRACKING_URI to a writable store" in warnings[0]


STORE_FAILURES = [
    "server-down",
    "server-hangs",
    "bad-scheme",
    "unwritable-sqlite",
    "sqlite-in-proc",
    "unwritable-file-store",
]


def test_a_diverged_run_is_failed_and_tagged_diverged(
    prepared_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    out = tmp_path / "nan"
    assert train_cli(prepared_root, out, "dense", "--epochs", "1", "--lr", "1e10") == 1
    client = MlflowClient(uri)
    (run,) = client.search_runs(
        [client.get_experiment_by_name("ws-test").experiment_id], "tags.outcome = 'diverged'"
    )
    assert run.info.status == "FAILED" and (out / "diverged.json").is_file()


@pytest.mark.parametrize("kind", STORE_FAILURES)
def test_tracking_failure_does_not_fail_the_run(
    prepared_root: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    silent_server: str,
    kind: str,
) -> None:
    uri = failing_store(kind, tmp_path, silent_server)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    out = tmp_path / "run"
    assert train_cli(prepared_root, out, "dense", "--epochs", "2") == 0
    assert (out / "metrics.json").is_file() and (out / "model_exported.pt").is_file()
    err = capsys.readouterr().err
    warnings = [line for line in err.splitlines() if "warning" in line]
    assert len(warnings) == 1 and "MLflow tracking off" in warnings[0], err


@pytest.mark.parametrize("kind", ["server-hangs", "sqlite-in-proc", "unwritable-file-store"])
def test_store_failure_costs_seconds_not_minutes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, silent_server: str, kind: str
) -> None:
    """The promise is "at most 10 s and one line" per run, whatever the store; mlflow alone
    retries such stores for minutes. (The import of mlflow is not the store's cost.)"""
    import mlflow  # noqa: F401

    monkeypatch.setenv("MLFLOW_TRACKING_URI", failing_store(kind, tmp_path, silent_server))
    tracker = Tracker("ws-test")
    start = time.monotonic()
    tracker.start({"a": 1}, {"run_name": "x"}, run_id=None)
    tracker.log_metrics({"loss": 1.0}, step=1)
    tracker.end("FINISHED")
    assert not tracker.enabled and tracker.warned
    assert time.monotonic() - start < 10


def test_tracker_warns_once_when_logging_keeps_failing(
    capsys: pytest.CaptureFixture[str],
) -> None:
    class Broken:
        def log_batch(self, *args: Any, **kwargs: Any) -> None:
            raise ConnectionError("database is locked")

        def set_terminated(self, *args: Any) -> None:
            raise ConnectionError("database is locked")

    tracker = Tracker("x")
    tracker._client, tracker.run_id = Broken(), "r"
    for step in range(3):
        tracker.log_metrics({"loss": 1.0}, step=step)
    tracker.end()
    err = capsys.readouterr().err
    assert err.count("warning") == 1 and "database is locked" in err
    assert not tracker.enabled


def test_default_store_is_beside_the_project(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    project = tmp_path / "proj"
    (project / "a" / "b").mkdir(parents=True)
    (project / "dvc.yaml").write_text("stages: {}\n")
    monkeypatch.chdir(project / "a" / "b")
    assert project_root() == project.resolve()
    uri = tracking_uri()
    assert uri == f"sqlite:///{project.resolve() / 'mlflow.db'}"
    assert artifact_location(uri) == (project.resolve() / "mlartifacts").as_uri()
    assert artifact_location("http://host:5000") is None
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://host:5000")
    assert tracking_uri() == "http://host:5000"


def test_experiment_per_grid_and_profile_and_names_lead_with_method() -> None:
    from weightswitch.config import build_config
    from weightswitch.tracking import experiment_name
    from weightswitch.tracking import mlflow_run_name as run_name

    params = {"grid": "fashion", "profile": "quick", "recipe": {"epochs": 1}}
    quick = build_config("lenet5", "fashion_mnist", "switcher-neuron", params)
    smoke = build_config(
        "lenet5", "fashion_mnist", "switcher-neuron", {**params, "profile": "smoke"}
    )
    assert experiment_name(quick) == "weightswitch/fashion/quick"
    assert experiment_name(smoke) == "weightswitch/fashion/smoke"
    assert run_name(quick) == "[quick] switcher-neuron lenet5 s0 fashion_mnist"
    assert run_name(quick) != run_name(smoke)
    assert quick.grid == "fashion" and "grid" not in quick.fingerprint()  # a label only
    points = [
        build_config("lenet5", "fashion_mnist", "magnitude", params, {"prune": {"sparsity": s}})
        for s in (0.9, 0.95)
    ]
    assert [run_name(c).split(" ")[1] for c in points] == ["magnitude@90%", "magnitude@95%"]
    assert run_name(points[0]).startswith("[quick] magnitude@90% lenet5 s0 ")  # seed, dataset
    match = {"prune": {"match": "run"}}
    matched = build_config("lenet5", "fashion_mnist", "magnitude", params, match)
    assert run_name(matched).startswith("[quick] magnitude lenet5 ")
    explicit = build_config("lenet5", "fashion_mnist", "dense", params, {"experiment": "mine"})
    assert experiment_name(explicit) == "mine"


def test_mlflow_gate_maps_draw_zero_gates_red(tmp_path: Path) -> None:
    import numpy as np
    import torch
    from PIL import Image

    from weightswitch.gate_images import ZERO_COLOR
    from weightswitch.tracking import gate_figures

    gates = torch.rand(20, 30) + 0.01  # out x in, all positive ...
    gates[:, :10] = 0.0  # ... except 10 input units switched off completely
    paths = gate_figures({"fc1": gates}, tmp_path)
    pixels = np.asarray(
        Image.open(next(p for p in paths if p.name == "fc1_map.png")).convert("RGB")
    )
    red = tuple(int(ZERO_COLOR[i : i + 2], 16) for i in (1, 3, 5))
    is_red = (np.abs(pixels.astype(int) - red).sum(axis=2) < 10).sum()
    assert is_red > 1000  # a third of the map (rows = input units) is drawn in the zero colour


def test_attempt_killed_by_sigkill_is_ended_when_force_discards_it(
    prepared_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """kill -9 leaves the MLflow run RUNNING; the next run either continues it (resume) or,
    when --force throws its checkpoint away, ends it as KILLED."""
    import os
    import signal
    import subprocess
    import sys

    from mlflow.tracking import MlflowClient

    from test_integrity import history_rows, wait_for

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    out = tmp_path / "run"
    argv = [
        "train",
        "--arch",
        "lenet300",
        "--dataset",
        "mnist",
        "--method",
        "dense",
        "--root",
        str(prepared_root),
        "--out",
        str(out),
        "--set",
        "model.hidden=[32,16]",
        "--device",
        "cpu",
        "--profile",
        "test",
        "--experiment",
        "ws-test",
        "--epochs",
        "40",
    ]
    proc = subprocess.Popen(
        [sys.executable, "-m", "weightswitch.cli", *argv],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(lambda: history_rows(out) >= 1, proc, "the first epoch")
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    client = MlflowClient(uri)
    exp = client.get_experiment_by_name("ws-test")
    assert [r.info.status for r in client.search_runs([exp.experiment_id])] == ["RUNNING"]

    from weightswitch.cli import main

    assert main([*argv[:-1], "2", "--force"]) == 0
    statuses = sorted(r.info.status for r in client.search_runs([exp.experiment_id]))
    assert statuses == ["FINISHED", "KILLED"]
    assert model_accuracy(client, out, prepared_root) == pytest.approx(
        json.loads((out / "metrics.json").read_text())["test_accuracy"], abs=1e-6
    )


def model_accuracy(client: Any, out: Path, root: Path) -> float:
    """Test accuracy of the PyTorch model the run of `out` logged, loaded by MLflow."""
    import mlflow.pytorch
    import torch

    from weightswitch.data import BatchIterator, get_spec, load_split
    from weightswitch.train.loop import evaluate

    record = json.loads((out / "metrics.json").read_text())
    (logged,) = client.get_run(record["mlflow_run_id"]).outputs.model_outputs
    model = mlflow.pytorch.load_model(f"models:/{logged.model_id}")
    config = record["config"]
    images, labels = load_split(root, "mnist", "test", limit=config["eval_limit"])
    batches = BatchIterator(
        images,
        labels,
        get_spec("mnist"),
        config["eval_batch_size"],
        shuffle=False,
        augment=False,
        device=torch.device("cpu"),
        norm=config["input_norm"],
    )
    return evaluate(model, batches, torch.device("cpu")).accuracy


def test_a_run_left_running_is_completed_with_the_epochs_it_missed(
    prepared_root: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The store locked after epoch 1 turns tracking off: the MLflow run stays RUNNING with
    one epoch. `weightswitch track` later completes it from history.csv, epochs 2 and 3."""
    import sqlite3

    from mlflow.tracking import MlflowClient

    from weightswitch.tracking import store
    from weightswitch.train import runner

    monkeypatch.setattr(store, "SQLITE_WAIT", 1.0)
    db = tmp_path / "mlflow.db"
    uri = f"sqlite:///{db}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    holder: list[sqlite3.Connection] = []

    class Locker(runner.Progress):
        def on_epoch_end(self, state: Any, row: dict[str, Any]) -> None:
            super().on_epoch_end(state, row)
            if not holder:  # epoch 1 is logged (the tracking callback runs first)
                holder.append(sqlite3.connect(db, timeout=1, check_same_thread=False))
                holder[0].execute("BEGIN EXCLUSIVE")

    out = tmp_path / "run"
    with monkeypatch.context() as mp:
        mp.setattr(runner, "Progress", Locker)
        try:
            assert train_cli(prepared_root, out, "dense", "--epochs", "3") == 0
        finally:
            holder[0].rollback()
    assert "MLflow tracking off" in capsys.readouterr().err
    client = MlflowClient(uri)
    run_id = json.loads((out / "metrics.json").read_text())["mlflow_run_id"]
    assert client.get_run(run_id).info.status == "RUNNING"
    assert [m.step for m in client.get_metric_history(run_id, "val_accuracy")] == [1]

    assert main(["track", str(out)]) == 0
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED" and "test_accuracy" in run.data.metrics
    assert [m.step for m in client.get_metric_history(run_id, "val_accuracy")] == [1, 2, 3]
    assert [m.step for m in client.get_metric_history(run_id, "train_loss")] == [1, 2, 3]
    assert {i.tags[0].value for i in run.inputs.dataset_inputs} == {"train", "val", "test"}


def test_a_stage_rerun_reuses_the_finished_mlflow_run_of_its_identity(
    prepared_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DVC removes a stage's outputs before re-running it: the retrained run has the same
    identity and keeps its one FINISHED MLflow run (no second run, no epoch twice)."""
    import shutil

    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    out = tmp_path / "run"
    assert train_cli(prepared_root, out, "dense", "--epochs", "2") == 0
    first = json.loads((out / "metrics.json").read_text())["mlflow_run_id"]
    shutil.rmtree(out)
    assert train_cli(prepared_root, out, "dense", "--epochs", "2") == 0
    assert json.loads((out / "metrics.json").read_text())["mlflow_run_id"] == first
    client = MlflowClient(uri)
    (run,) = client.search_runs([client.get_experiment_by_name("ws-test").experiment_id])
    assert run.info.run_id == first and run.info.status == "FINISHED"
    assert [m.step for m in client.get_metric_history(first, "val_accuracy")] == [1, 2]
    assert len(run.outputs.model_outputs) == 1 and len(run.inputs.dataset_inputs) == 3
    # a DVC stage (--checkpoint-dir) killed after it completed: restored, the same run again
    ckpts = ["--checkpoint-dir", str(tmp_path / "checkpoints")]
    for _ in range(2):
        shutil.rmtree(out)
        assert train_cli(prepared_root, out, "dense", "--epochs", "2", *ckpts) == 0
    (run,) = client.search_runs([client.get_experiment_by_name("ws-test").experiment_id])
    assert run.info.run_id == first and run.info.status == "FINISHED"
    assert [m.step for m in client.get_metric_history(first, "val_accuracy")] == [1, 2]
    assert len(run.outputs.model_outputs) == 1


def test_a_reused_run_takes_no_second_point_of_an_epoch_but_a_changed_result(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    tags = {"run_name": "x", "identity": "abc"}
    first = Tracker("ws-test")
    first.start({"a": 1}, tags, run_id=None)
    first.log_metrics({"val_accuracy": 0.5, "test_accuracy": 0.5}, step=1)
    first.end("FINISHED")
    again = Tracker("ws-test")
    again.start({"a": 2}, tags, run_id=None)  # a param of the same identity stays as it was
    assert again.run_id == first.run_id and again.enabled
    again.log_metrics({"val_accuracy": 0.5001, "test_accuracy": 0.5}, step=1)  # held: both
    again.log_metrics({"test_accuracy": 0.6}, step=1)  # the run-level result changed
    again.end("FINISHED")
    client = MlflowClient(uri)
    assert [m.value for m in client.get_metric_history(first.run_id, "val_accuracy")] == [0.5]
    assert [m.value for m in client.get_metric_history(first.run_id, "test_accuracy")] == [
        0.5,
        0.6,
    ]
    run = client.get_run(first.run_id)
    assert run.data.metrics["test_accuracy"] == 0.6 and run.data.params["a"] == "1"
    assert run.info.status == "FINISHED"
