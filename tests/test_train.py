"""`weightswitch train` end to end through the real CLI, on the tiny prepared fake data.

A LeNet-300 with hidden widths 32/16 keeps switcher runs to seconds on a 2-core CPU.
"""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import torch

from weightswitch.cli import main
from weightswitch.run_files import RECORD_KEYS

HISTORY = [
    "epoch",
    "phase",
    "lr",
    "train_loss",
    "train_accuracy",
    "val_accuracy",
    "fc_sparsity",
    "seconds",
]
LAYERS = {"fc1": 784 * 32, "fc2": 32 * 16, "fc3": 16 * 10}


def train_cli(root: Path, out: Path, method: str, *extra: str) -> int:
    # dense: nn.Linear's init, since N(0, 0.01) (the default) needs more than a few epochs of
    # 400 images to leave the loss plateau of this tiny net (tests/golden_runs.py covers it)
    init = ("--fc-init", "pytorch") if method == "dense" else ()
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
            "--no-mlflow",
            "--profile",
            "test",
            *init,
            *extra,
        ]
    )


def metrics(run: Path) -> dict[str, Any]:
    return json.loads((run / "metrics.json").read_text())


def history(run: Path) -> list[dict[str, str]]:
    with (run / "history.csv").open() as f:
        return list(csv.DictReader(f))


def exported(run: Path) -> torch.nn.Module:
    return torch.load(run / "model_exported.pt", weights_only=False)["model"]


@pytest.fixture(scope="module")
def runs(prepared_root: Path, tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    """A finished dense run and a finished switcher run, shared by this module."""
    base = tmp_path_factory.mktemp("runs")
    assert train_cli(prepared_root, base / "dense", "dense", "--epochs", "3") == 0
    assert train_cli(prepared_root, base / "switcher", "switcher", "--epochs", "2") == 0
    return SimpleNamespace(root=prepared_root, dense=base / "dense", switcher=base / "switcher")


def test_dense_writes_contract_outputs_and_learns(runs: SimpleNamespace) -> None:
    m = metrics(runs.dense)
    assert [k for k in m if k in RECORD_KEYS] == list(RECORD_KEYS)  # every key, in order
    assert (m["arch"], m["dataset"], m["method"], m["seed"], m["profile"]) == (
        "lenet300",
        "mnist",
        "dense",
        0,
        "test",
    )
    assert m["epochs"] == 3 and m["train_size"] == 400 and m["device"] == "cpu"
    assert (m["val_size"], m["test_size"]) == (100, 100)  # whole splits by default
    assert m["test_accuracy"] > 0.2  # 10 classes: chance is 0.1 (100 test images)
    assert m["fc_sparsity"] == 0.0 and set(m["layer_sparsity"]) == set(LAYERS)
    assert m["snn_params"] == 0 and m["matched_run"] is None and m["target_sparsity"] is None
    assert m["exported_test_accuracy"] == m["test_accuracy"]
    rows = history(runs.dense)
    assert list(rows[0]) == HISTORY and [r["phase"] for r in rows] == ["dense"] * 3
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3]
    assert not (runs.dense / "gates.pt").exists()
    assert (runs.dense / "checkpoint.pt").is_file()
    assert json.loads((runs.dense / "config.json").read_text())["method"] == "dense"


def test_switcher_outputs_are_consistent(runs: SimpleNamespace) -> None:
    m = metrics(runs.switcher)
    assert [k for k in m if k in RECORD_KEYS] == list(RECORD_KEYS) and m["snn_params"] > 0
    assert [r["phase"] for r in history(runs.switcher)] == ["tnn", "snn"]
    gates = torch.load(runs.switcher / "gates.pt", weights_only=True)
    assert list(gates) == list(LAYERS)
    for name, g in gates.items():
        assert g.dtype == torch.float16 and g.numel() == LAYERS[name]
        # the reported sparsity is that of exactly these gates (W itself has no exact zeros)
        assert int((g == 0).sum()) == round(m["layer_sparsity"][name] * g.numel())
    assert 0.05 < m["fc_sparsity"] < 0.95  # the final BatchNorm + ReLU zeroes about half
    last = history(runs.switcher)[-1]
    assert abs(float(last["fc_sparsity"]) - m["fc_sparsity"]) < 1e-5
    assert abs(m["exported_test_accuracy"] - m["test_accuracy"]) <= 0.01
    plain = exported(runs.switcher)
    zeros = sum(int((plain.get_submodule(n).weight == 0).sum()) for n in LAYERS)
    assert zeros == m["fc_macs_removed"]


def test_switcher_neuron_with_warmup_and_step_phases(prepared_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "neuron"
    args = ("--epochs", "3", "--warmup-epochs", "1", "--phase-unit", "step", "--phase-length", "3")
    assert train_cli(prepared_root, out, "switcher-neuron", *args) == 0
    assert history(out)[0]["phase"] == "warmup"
    assert {r["phase"] for r in history(out)[1:]} <= {"tnn", "snn"}
    gates = torch.load(out / "gates.pt", weights_only=True)
    assert {n: tuple(g.shape) for n, g in gates.items()} == {
        "fc1": (784,),
        "fc2": (32,),
        "fc3": (16,),
    }
    assert metrics(out)["config"]["switcher"]["granularity"] == "neuron"


def test_magnitude_matches_switcher_per_layer(runs: SimpleNamespace, tmp_path: Path) -> None:
    out = tmp_path / "magnitude"
    rc = train_cli(
        runs.root,
        out,
        "magnitude",
        "--init-from",
        str(runs.dense),
        "--match",
        str(runs.switcher),
        "--finetune-epochs",
        "1",
    )
    assert rc == 0
    m, target = metrics(out), metrics(runs.switcher)
    for name, size in LAYERS.items():
        assert abs(m["layer_sparsity"][name] - target["layer_sparsity"][name]) * size <= 1
    assert m["matched_run"] == str(runs.switcher)
    assert m["target_sparsity"] == target["fc_sparsity"]
    rows, dense_rows = history(out), history(runs.dense)
    assert [r["phase"] for r in rows] == ["dense"] * 3 + ["finetune"]
    assert rows[:3] == dense_rows  # the dense run's epochs, not retrained
    plain = exported(out)  # masks baked in
    for name, size in LAYERS.items():
        zeros = int((plain.get_submodule(name).weight == 0).sum())
        assert abs(zeros - target["layer_sparsity"][name] * size) <= 1


def test_random_global_prunes_after_training_dense(prepared_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "random"
    rc = train_cli(
        prepared_root,
        out,
        "random",
        "--epochs",
        "1",
        "--sparsity",
        "0.5",
        "--scope",
        "global",
        "--finetune-epochs",
        "1",
    )
    assert rc == 0
    m = metrics(out)
    assert abs(m["fc_sparsity"] - 0.5) * sum(LAYERS.values()) <= 1
    assert m["target_sparsity"] == 0.5
    assert [r["phase"] for r in history(out)] == ["dense", "finetune"]


class _KillAfter:
    """Replace the progress callback so the run dies (Ctrl-C) right after epoch `k`."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, k: int) -> None:
        from weightswitch.train import runner

        class Killer(runner.Progress):
            def on_epoch_end(self, state: Any, row: dict[str, Any]) -> None:
                super().on_epoch_end(state, row)
                if state.epoch == k:
                    raise KeyboardInterrupt

        monkeypatch.setattr(runner, "Progress", Killer)


def _comparable(run: Path) -> tuple[Any, ...]:
    m = metrics(run)
    keys = ("test_accuracy", "val_accuracy", "fc_sparsity", "layer_sparsity", "epochs")
    rows = [{k: v for k, v in r.items() if k != "seconds"} for r in history(run)]
    return tuple(m[k] for k in keys), rows


@pytest.mark.parametrize(
    ("method", "args", "kill_after"),
    [
        (
            "switcher",
            [
                "--epochs",
                "3",
                "--warmup-epochs",
                "1",
                "--phase-unit",
                "step",
                "--phase-length",
                "4",
                "--schedule",
                "plateau",
                "--patience",
                "0",
            ],
            2,
        ),
        (
            "magnitude",
            ["--epochs", "2", "--finetune-epochs", "2", "--sparsity", "0.7", "--momentum", "0.9"],
            3,
        ),
        # the switcher's ablations and iterative pruning (issue 12)
        ("switcher-noise", ["--epochs", "3"], 2),
        ("free-gates", ["--epochs", "3", "--phase-unit", "step", "--phase-length", "5"], 1),
        (
            "iterative",
            [
                "--epochs",
                "1",
                "--sparsity",
                "0.9",
                "--prune-steps",
                "3",
                "--finetune-epochs",
                "1",
                "--momentum",
                "0.9",
            ],
            2,
        ),
    ],
    ids=[
        "switcher-step-phases",
        "magnitude-across-prune",
        "switcher-noise",
        "free-gates",
        "iterative",
    ],
)
def test_resume_after_kill_equals_uninterrupted(
    prepared_root: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    method: str,
    args: list[str],
    kill_after: int,
) -> None:
    full, killed = tmp_path / "full", tmp_path / "killed"
    assert train_cli(prepared_root, full, method, *args) == 0
    with monkeypatch.context() as mp:
        _KillAfter(mp, kill_after)
        assert train_cli(prepared_root, killed, method, *args) == 130
    assert not (killed / "metrics.json").exists()
    assert len(history(killed)) == kill_after
    capsys.readouterr()
    assert train_cli(prepared_root, killed, method, *args) == 0
    assert f"resuming after epoch {kill_after}" in capsys.readouterr().out
    assert _comparable(killed) == _comparable(full)
    a, b = exported(full).state_dict(), exported(killed).state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_same_seed_same_metrics(runs: SimpleNamespace, tmp_path: Path) -> None:
    again = tmp_path / "again"
    assert train_cli(runs.root, again, "dense", "--epochs", "3") == 0
    assert _comparable(again) == _comparable(runs.dense)
    other = tmp_path / "other-seed"
    assert train_cli(runs.root, other, "dense", "--epochs", "3", "--seed", "1") == 0
    assert _comparable(other)[1] != _comparable(runs.dense)[1]


def test_finished_run_is_not_retrained(
    runs: SimpleNamespace, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stamp = (runs.dense / "metrics.json").stat().st_mtime_ns
    capsys.readouterr()
    assert train_cli(runs.root, runs.dense, "dense", "--epochs", "3") == 0
    assert "already complete" in capsys.readouterr().out
    assert (runs.dense / "metrics.json").stat().st_mtime_ns == stamp
    # the same directory with another config: refused, unless --force
    assert train_cli(runs.root, runs.dense, "dense", "--epochs", "3", "--lr", "0.05") == 2
    err = capsys.readouterr().err
    assert "other inputs" in err and "optimizer.lr: 0.1 -> 0.05" in err and err.count("\n") == 1
    copy = tmp_path / "copy"
    shutil.copytree(runs.dense, copy)
    assert train_cli(runs.root, copy, "dense", "--epochs", "1", "--lr", "0.05", "--force") == 0
    assert metrics(copy)["config"]["optimizer"]["lr"] == 0.05 and metrics(copy)["epochs"] == 1


def test_divergence_stops_without_metrics(
    prepared_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "nan"
    assert train_cli(prepared_root, out, "dense", "--epochs", "2", "--lr", "1e10") == 1
    err = capsys.readouterr().err
    assert "diverged" in err and "NaN/inf" in err and err.count("\n") == 1
    assert not (out / "metrics.json").exists()
    # the divergence is the outcome of these inputs: asked again, it is reported at once
    record = json.loads((out / "diverged.json").read_text())
    # a failed seed is a result: it carries the machine numerics it ran with (issue 37, item 5)
    assert record["threads"] == torch.get_num_threads()
    assert record["cpu_capability"] == torch.backends.cpu.get_cpu_capability()
    stamp = (out / "diverged.json").stat().st_mtime_ns
    assert train_cli(prepared_root, out, "dense", "--epochs", "2", "--lr", "1e10") == 1
    again = capsys.readouterr()
    assert "recorded" in again.err and "--force" in again.err and again.err.count("\n") == 1
    assert "epoch 1/2" not in again.out and (out / "diverged.json").stat().st_mtime_ns == stamp
    # other inputs: the stale record goes and the run trains; --force would retrain the same
    assert train_cli(prepared_root, out, "dense", "--epochs", "2", "--lr", "0.1") == 0
    assert not (out / "diverged.json").exists() and metrics(out)["epochs"] == 2
    assert record["identity"]["config"] != metrics(out)["identity"]["config"]


def test_diverged_ok_makes_the_divergence_a_result_that_children_inherit(
    prepared_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The pipeline's stages: a diverging seed exits 0 with its record, runs that start from it
    record the same (no retraining, no missing-parent error), and the report counts both."""
    from weightswitch.report.collect import collect
    from weightswitch.report.tables import summary_display, summary_table

    root = tmp_path / "runs" / "test"
    dense, pruned = root / "mnist-lenet300-dense-s0", root / "mnist-lenet300-magnitude-s0"
    blow_up = ("--epochs", "1", "--lr", "1e10")
    assert train_cli(prepared_root, dense, "dense", *blow_up, "--diverged-ok") == 0
    assert "diverged; recorded as this run's result" in capsys.readouterr().out
    assert (dense / "diverged.json").is_file() and not (dense / "metrics.json").exists()
    child = ("--epochs", "1", "--sparsity", "0.5", "--init-from", str(dense))
    assert train_cli(prepared_root, pruned, "magnitude", *child) == 1  # without the flag: an error
    err = capsys.readouterr().err
    assert "parent run diverged (--init-from" in err and err.count("\n") == 1
    assert train_cli(prepared_root, pruned, "magnitude", *child, "--diverged-ok") == 0
    record = json.loads((pruned / "diverged.json").read_text())
    assert record["identity"]["parents"]["init_from"].startswith("diverged:")
    assert not (pruned / "metrics.json").exists() and "epoch 1/1" not in capsys.readouterr().out

    col = collect(tmp_path / "runs")
    assert list(col.runs["status"]) == ["diverged", "diverged"] and col.missing.empty
    assert "NaN/inf" in col.runs["reason"].iloc[0]
    shown = summary_display(summary_table(col), expected=False)
    cells = shown[shown.method == "dense"].iloc[0]
    assert (cells["acc"], cells["n"]) == ("diverged", "0 (1 diverged)")


def test_eval_limit_subsets_val_and_test(prepared_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "small-eval"
    assert train_cli(prepared_root, out, "dense", "--epochs", "1", "--eval-limit", "30") == 0
    m = metrics(out)
    assert (m["train_size"], m["val_size"], m["test_size"]) == (400, 30, 30)
    correct = m["test_accuracy"] * 30
    assert abs(correct - round(correct)) < 1e-9  # a count over exactly 30 images


def test_gradient_clipping_tames_the_same_lr(prepared_root: Path, tmp_path: Path) -> None:
    """The lr that blows the run up trains once the gradient norm is clipped."""
    out = tmp_path / "clipped"
    argv = ["--epochs", "2", "--lr", "1e3", "--grad-clip", "1e-4"]
    assert train_cli(prepared_root, out, "dense", *argv) == 0
    assert metrics(out)["config"]["optimizer"]["grad_clip"] == 1e-4


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--method", "sparse"], "unknown method 'sparse'; valid choices: dense, switcher"),
        (["--method", "dense", "--arch", "lenet6"], "unknown arch 'lenet6'; valid choices"),
        (["--method", "dense", "--dataset", "imagenet"], "unknown dataset 'imagenet'"),
        (["--method", "dense", "--arch", "resnet18"], "does not fit dataset 'mnist'"),
        (["--method", "dense", "--schedule", "step"], "unknown schedule name 'step'"),
        (["--method", "dense", "--epochs", "0"], "epochs must be > 0, got 0"),
        (["--method", "dense", "--grad-clip", "0"], "optimizer.grad_clip must be > 0 or null"),
        (["--method", "magnitude", "--sparsity", "1.5"], "sparsity must be in [0, 1), got 1.5"),
        (["--method", "switcher", "--phase-unit", "batch"], "valid choices: epoch, step"),
        (["--method", "dense", "--sparsity", "0.5"], "does not apply to method 'dense'"),
        (["--method", "dense", "--set", "optimizer.beta=1"], "unknown key 'optimizer.beta'"),
        (["--method", "dense", "--set", "model.width=3"], "unknown option for arch 'lenet300'"),
        (["--method", "dense", "--set", "width=3"], "unknown key 'width'; valid keys: amp"),
        (["--method", "magnitude", "--match", "/nonexistent"], "--match: /nonexistent"),
    ],
)
def test_bad_arguments_fail_in_one_line(
    prepared_root: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    message: str,
) -> None:
    base = [
        "train",
        "--arch",
        "lenet300",
        "--dataset",
        "mnist",
        "--root",
        str(prepared_root),
        "--out",
        str(tmp_path / "bad"),
        "--no-mlflow",
        "--device",
        "cpu",
    ]
    # later flags win in argparse, so argv may override --arch / --dataset
    assert main([*base, *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1, err
    assert not (tmp_path / "bad" / "metrics.json").exists()


def test_match_of_another_arch_is_refused(runs: SimpleNamespace, tmp_path: Path, capsys) -> None:
    fake = tmp_path / "lenet5-switcher"
    fake.mkdir()
    data = {**metrics(runs.switcher), "arch": "lenet5"}
    (fake / "metrics.json").write_text(json.dumps(data))
    assert train_cli(runs.root, tmp_path / "m", "magnitude", "--match", str(fake)) == 2
    assert "is a 'lenet5' run" in capsys.readouterr().err
