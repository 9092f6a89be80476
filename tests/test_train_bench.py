"""`weightswitch bench`: dispatch to the targets, and a tiny `bench train` run."""

from __future__ import annotations

import pytest

from weightswitch.cli import main


def test_bench_train_prints_ratios(capsys: pytest.CaptureFixture[str]) -> None:
    # eager SNN: compiling full-size SNNs takes minutes (bench snn measures the compiled path)
    argv = [
        "bench",
        "train",
        "--arch",
        "lenet300",
        "--batches",
        "4",
        "--switcher-batches",
        "1",
        "--workers",
        "0",
        "--batch-size",
        "16",
        "--repeats",
        "1",
        "--no-snn-compile",
    ]
    assert main(argv) == 0
    out = capsys.readouterr().out
    labels = (
        "ours: dense",
        "ours: switcher (tnn)",
        "ours: switcher-neuron (snn)",
        "plain PyTorch (0 workers)",
        "faster than the plain loop on lenet300",
    )
    for label in labels:
        assert label in out, out
    assert "%" in out  # the SNN share column


def test_bench_unknown_target(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "nope"]) == 2
    err = capsys.readouterr().err
    assert "unknown bench target 'nope'; valid choices: data, train, export" in err


def test_bench_target_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["bench", "train", "--help"])
    assert info.value.code == 0
    assert "--switcher-batches" in capsys.readouterr().out
