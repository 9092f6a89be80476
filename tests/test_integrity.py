"""Run integrity (issue 14): one writer per run directory, identity covers every input, damaged
data and params typos stop before anything is written, divergence in the last update.

The lock tests use real `weightswitch train` processes, SIGSTOP (a live holder) and SIGKILL
(a dead one); the rest goes through the real CLI in-process on the tiny prepared fake data.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from weightswitch import checkpoint
from weightswitch.cli import main
from weightswitch.run_files import RECORD_KEYS

ARGS = [
    "--arch",
    "lenet300",
    "--dataset",
    "mnist",
    "--set",
    "model.hidden=[32,16]",
    "--device",
    "cpu",
    "--no-mlflow",
    "--profile",
    "test",
]


def train_cli(root: Path, out: Path, method: str, *extra: str) -> int:
    return main(
        ["train", *ARGS, "--method", method, "--root", str(root), "--out", str(out), *extra]
    )


def train_process(root: Path, out: Path, *extra: str) -> subprocess.Popen[str]:
    cmd = [
        sys.executable,
        "-m",
        "weightswitch.cli",
        "train",
        *ARGS,
        "--method",
        "dense",
        "--root",
        str(root),
        "--out",
        str(out),
        *extra,
    ]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def history_rows(run: Path) -> int:
    try:
        return max(len((run / "history.csv").read_text().splitlines()) - 1, 0)
    except FileNotFoundError:
        return 0


def wait_for(predicate, proc: subprocess.Popen[str], what: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if proc.poll() is not None:
            raise AssertionError(f"process ended before {what}: {proc.communicate()}")
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.005)


def checkpoint_epoch(path: Path) -> int:

    return int(checkpoint.load(path)["epoch"])


def comparable(run: Path) -> tuple:
    m = json.loads((run / "metrics.json").read_text())
    rows = [line.split(",")[:-1] for line in (run / "history.csv").read_text().splitlines()]
    keys = ("test_accuracy", "val_accuracy", "fc_sparsity", "epochs")
    return tuple(m[k] for k in keys), rows  # history without its seconds column


@pytest.fixture
def root(prepared_root: Path, tmp_path: Path) -> Path:
    """A private copy of the prepared fake MNIST (these tests damage and re-make it)."""
    copy = tmp_path / "data"
    shutil.copytree(prepared_root / "mnist", copy / "mnist")
    shutil.copytree(prepared_root / ".raw" / "mnist", copy / ".raw" / "mnist")
    return copy


# ------------------------------------------------------------------ 1. one writer per run


def test_second_writer_is_refused_and_dead_holder_taken_over(root: Path, tmp_path: Path) -> None:
    run, epochs = tmp_path / "run", ["--epochs", "40"]
    holder = train_process(root, run, *epochs)
    try:
        wait_for(lambda: history_rows(run) >= 2, holder, "two epochs")
        os.kill(holder.pid, signal.SIGSTOP)  # alive, holding the lock, mid-run
        assert history_rows(run) < 40
        second = train_process(root, run, *epochs, "--lr", "0.01")
        out, err = second.communicate(timeout=300)
        assert second.returncode == 1, (out, err)
        assert err.count("\n") == 1, err
        assert f"in use by another run (pid {holder.pid} on {socket.gethostname()} since" in err
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait()
    finally:
        if holder.poll() is None:
            holder.kill()
    killed_at = checkpoint_epoch(run / "checkpoint.pt")
    assert killed_at >= 1 and (run / ".lock").is_file() and not (run / "metrics.json").exists()
    half_written = run / ".checkpoint.pt.k1ll3d.tmp"  # what a kill during a save leaves
    half_written.write_bytes(b"half a checkpoint")

    third = train_process(root, run, *epochs)
    out, err = third.communicate(timeout=300)
    assert third.returncode == 0, err
    assert f"taking over the lock of a run that died (pid {holder.pid}" in err
    assert f"resuming after epoch {killed_at}/40" in out
    assert not (run / ".lock").exists() and not half_written.exists()  # released, swept
    assert train_cli(root, tmp_path / "uninterrupted", "dense", *epochs) == 0
    assert comparable(run) == comparable(tmp_path / "uninterrupted")


def test_a_stage_that_outlives_dvc_keeps_its_run(root: Path, tmp_path: Path) -> None:
    """DVC removes a stage's run directory before re-running it; a trainer still alive from a
    killed `dvc repro` keeps the run through the lock in its checkpoint folder."""
    run, ckpts = tmp_path / "run", tmp_path / "checkpoints"
    argv = ["--epochs", "40", "--checkpoint-dir", str(ckpts)]
    orphan = train_process(root, run, *argv)
    try:
        wait_for(lambda: history_rows(run) >= 1, orphan, "the first epoch")
        os.kill(orphan.pid, signal.SIGSTOP)
        shutil.rmtree(run)  # what `dvc repro` does to the stage's outputs
        second = train_process(root, run, *argv)
        out, err = second.communicate(timeout=300)
        assert second.returncode == 1 and f"(pid {orphan.pid} on" in err, (out, err)
    finally:
        orphan.kill()
        orphan.wait()


def test_a_finished_run_survives_a_kill_before_dvc_records_it(
    root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Killed after the run completed but before DVC recorded the stage, `dvc repro` deletes
    the run directory and runs the stage again: the final checkpoint kept in the checkpoint
    folder is restored, no epoch is retrained and every output comes back byte for byte."""
    run, ckpts = tmp_path / "run", tmp_path / "checkpoints"
    argv = ["--epochs", "2", "--checkpoint-dir", str(ckpts)]
    assert train_cli(root, run, "switcher", *argv) == 0
    first = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()}
    assert {"metrics.json", "history.csv", "gates.pt", "checkpoint.pt"} <= set(first)
    assert (ckpts / "metrics.json").read_bytes() == first["metrics.json"]
    record = json.loads(first["metrics.json"])  # RECORD_KEYS: every key, in written order
    assert [key for key in record if key in RECORD_KEYS] == list(RECORD_KEYS)
    shutil.rmtree(run)  # what `dvc repro` does to the stage's outputs before its command
    capsys.readouterr()
    assert train_cli(root, run, "switcher", *argv) == 0
    out = capsys.readouterr().out
    assert "no epoch retrained" in out and "resuming" not in out, out
    assert {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()} == first
    assert train_cli(root, run, "switcher", *argv, "--force") == 0  # --force: a new run
    assert "no epoch retrained" not in capsys.readouterr().out


def test_a_kept_final_checkpoint_of_other_inputs_leaves_its_mlflow_run_finished(
    root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stage re-run on changed params discards the kept final checkpoint of its earlier
    run (other inputs): that run finished, so its MLflow run stays FINISHED."""
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    run, ckpts = tmp_path / "run", tmp_path / "checkpoints"
    flags = [a for a in ARGS if a != "--no-mlflow"] + ["--experiment", "ws-kept"]
    argv = ["train", *flags, "--method", "dense", "--root", str(root), "--out", str(run)]
    argv += ["--checkpoint-dir", str(ckpts)]
    assert main([*argv, "--epochs", "1"]) == 0
    shutil.rmtree(run)  # DVC, before re-running the stage on its changed params
    assert main([*argv, "--epochs", "2"]) == 0
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name("ws-kept")
    runs = client.search_runs([experiment.experiment_id])
    assert [r.info.status for r in runs] == ["FINISHED", "FINISHED"]


# ------------------------------------------------------- 2. identity covers every input


def test_changed_data_is_not_answered_with_old_result(
    root: Path, tmp_path: Path, fake_mirror, capsys: pytest.CaptureFixture[str]
) -> None:
    from weightswitch.data.checksums import load_extra_checksums
    from weightswitch.data.fetch import fetch

    run = tmp_path / "run"
    assert train_cli(root, run, "dense", "--epochs", "1") == 0
    fetch(
        "mnist",
        root,
        mirror=fake_mirror.path,
        val_size=50,
        log=lambda m: None,
        extra_checksums=load_extra_checksums(fake_mirror.checksums_file),
    )
    capsys.readouterr()
    assert train_cli(root, run, "dense", "--epochs", "1") == 2
    err = capsys.readouterr().err
    assert "finished run of other inputs (prepared train.pt re-made (sha256" in err, err
    assert err.count("\n") == 1 and "--force" in err
    assert train_cli(root, run, "dense", "--epochs", "1", "--force") == 0
    assert json.loads((run / "metrics.json").read_text())["val_size"] == 50


def test_retrained_parent_is_not_answered_with_old_result(
    root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dense, switcher, pruned = tmp_path / "dense", tmp_path / "switcher", tmp_path / "magnitude"
    assert train_cli(root, dense, "dense", "--epochs", "1") == 0
    assert train_cli(root, switcher, "switcher", "--epochs", "2") == 0
    prune = ["--init-from", str(dense), "--match", str(switcher), "--finetune-epochs", "1"]
    assert train_cli(root, pruned, "magnitude", *prune) == 0
    capsys.readouterr()
    assert train_cli(root, pruned, "magnitude", *prune) == 0
    assert "already complete" in capsys.readouterr().out
    assert train_cli(root, dense, "dense", "--epochs", "1", "--lr", "0.05", "--force") == 0
    capsys.readouterr()
    assert train_cli(root, pruned, "magnitude", *prune) == 2
    err = capsys.readouterr().err
    assert f"parent --init-from {dense} retrained (identity" in err and err.count("\n") == 1


def test_resume_refuses_a_checkpoint_of_other_inputs(
    root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "run"
    assert train_cli(root, run, "dense", "--epochs", "2") == 0
    (run / "metrics.json").unlink()  # an unfinished run with a checkpoint
    capsys.readouterr()
    assert train_cli(root, run, "dense", "--epochs", "2", "--momentum", "0.5") == 2
    err = capsys.readouterr().err
    assert "checkpoint.pt was written for other inputs (optimizer.momentum: 0.0 -> 0.5)" in err


# ----------------------------------------------------------- 4. data checked before use


@pytest.mark.parametrize("damage", ["truncated", "overwritten", "manifest"])
def test_damaged_data_stops_before_anything_is_written(
    root: Path, tmp_path: Path, fake_mirror_env, capsys: pytest.CaptureFixture[str], damage: str
) -> None:
    train_pt = root / "mnist" / "train.pt"
    size = train_pt.stat().st_size
    if damage == "truncated":
        os.truncate(train_pt, size // 2)
    elif damage == "overwritten":  # 4 KB of pixels, same size
        with train_pt.open("r+b") as f:
            f.seek(size // 2)
            f.write(b"\x7f" * 4096)
    else:
        (root / "mnist" / "manifest.json").write_text("{not json")
    run = tmp_path / "run"
    assert train_cli(root, run, "dense", "--epochs", "1") == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert f"repair: weightswitch fetch mnist --root {root}" in err
    if damage != "manifest":
        assert str(train_pt) in err and "--val-size 100" in err
    assert not run.exists()  # nothing written

    repair = err.split("repair: ")[1].split()
    if damage == "manifest":  # the split settings were in the manifest: give them again
        repair += ["--val-size", "100"]
    assert main(repair[1:]) == 0
    assert train_cli(root, run, "dense", "--epochs", "1") == 0


# ---------------------------------------------- 6. divergence after the final update


def test_divergence_in_the_last_update_is_caught(
    root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "run"
    one_step = ["--epochs", "1", "--train-limit", "10", "--batch-size", "10", "--lr", "1e6"]
    assert train_cli(root, run, "dense", *one_step) == 1
    err = capsys.readouterr().err
    assert "diverged after the last update of epoch 1: validation loss" in err
    assert err.count("\n") == 1 and not (run / "metrics.json").exists()


# ------------------------------------------------------------ 7. strict params files


@pytest.mark.parametrize(
    ("edit", "message", "hint"),
    [
        (
            "recipe:\n  batch_size: 32\n",
            "missing required key 'recipe.epochs' in recipe; keys there: batch_size",
            None,
        ),
        (
            "recipes:\n  epochs: 1\n",
            "unknown key 'recipes' in the top level; valid keys: ablations, archs, data, datasets, "
            "frontier, grid, methods, models, profile, prune_methods, recipe, seeds, "
            "train_methods",
            "recipe",
        ),
        (
            "recipe: {epoch: 3}\n",
            "unknown key 'epoch' in recipe; valid keys: allocation, amp, ",
            "epochs",
        ),
        (
            "recipe: {epochs: 1, optimizer: {lr: 0.1, momentun: 0.9}}\n",
            "unknown key 'momentun' in recipe.optimizer; valid keys: grad_clip, lr, momentum, "
            "name, nesterov, weight_decay",
            "momentum",
        ),
        (
            "recipe: {epochs: 1}\narchs: {lenet300: {hiden: [8, 8]}}\n",
            "unknown key 'hiden' in archs.lenet300; valid keys: ",
            "hidden",
        ),
        (
            "recipe: {epochs: 1}\nmethods: {switcher: {snn_optimizr: {lr: 0.1}}}\n",
            "unknown key 'snn_optimizr' in methods.switcher; valid keys: ",
            "snn_optimizer",
        ),
        (
            "recipe: {epochs: 1}\nmethods: {dense: {finetune_epochs: 2}}\n",
            "unknown key 'finetune_epochs' in methods.dense; valid keys: ",
            None,
        ),
    ],
)
def test_params_file_typos_fail_in_one_line(
    root: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    edit: str,
    message: str,
    hint: str | None,
) -> None:
    params = tmp_path / "params.yaml"
    params.write_text("profile: test\n" + edit)
    run = tmp_path / "run"
    assert train_cli(root, run, "dense", "--params", str(params)) == 2
    err = capsys.readouterr().err
    assert f"{params}: {message}" in err and err.count("\n") == 1, err
    if hint is not None:
        assert err.endswith(f"; did you mean {hint!r}?\n"), err
    assert not run.exists()
