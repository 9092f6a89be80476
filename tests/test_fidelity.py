"""The reference's training semantics are the default (issue: "the paper's method by default").

- TNN phases update W, the backbone and the SNNs' BatchNorm affine parameters, never the
  SNN's conv kernels; SNN phases update the SNN and the backbone, never W;
- the frozen-normalisation variant stays available as a named option;
- a bare `weightswitch train` resolves exactly the config the pipeline runs;
- no gradient clipping, no FC bias, reference input preprocessing by default.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch

from weightswitch.cli import main
from weightswitch.config import build_config
from weightswitch.methods.state import Callback, TrainState
from weightswitch.params_cli import compose_params, default_params
from weightswitch.switcher import snn_norm_parameters, snn_parameters, switched_layers
from weightswitch.train.runner import train

ROOT = Path(__file__).resolve().parents[1]


class ParamWatch(Callback):
    """Records, per epoch, which parameter groups changed during that epoch."""

    def __init__(self) -> None:
        self.before: dict[str, torch.Tensor] = {}
        self.changed: list[tuple[str, set[str]]] = []

    def _groups(self, state: TrainState) -> dict[str, list[torch.Tensor]]:
        model = state.model
        layers = switched_layers(model)
        if not layers:
            return {}
        norm = {id(p) for p in snn_norm_parameters(model)}
        snn = {id(p) for p in snn_parameters(model)}
        switched = [m.weight for m in layers.values()]
        ids = snn | {id(w) for w in switched}
        groups = {
            "W": switched,
            "snn_norm": [p for p in snn_parameters(model) if id(p) in norm],
            "snn_conv": [p for p in snn_parameters(model) if id(p) not in norm],
            "backbone": [p for p in model.parameters() if id(p) not in ids],
        }
        return {k: ps for k, ps in groups.items() if ps}  # lenet300 has no backbone params

    def on_epoch_start(self, state: TrainState, epoch: int) -> None:
        self.before = {k: [p.detach().clone() for p in ps] for k, ps in self._groups(state).items()}

    def on_epoch_end(self, state: TrainState, row: dict[str, Any]) -> None:
        now = self._groups(state)
        moved = {
            k
            for k, ps in now.items()
            if any(not torch.equal(a, b) for a, b in zip(self.before[k], ps, strict=True))
        }
        self.changed.append((row["phase"], moved))


def _run(prepared_root: Path, tmp_path: Path, arch: str, **overrides: Any) -> ParamWatch:
    cfg = build_config(
        arch,
        "mnist",
        "switcher",
        default_params(),
        {
            "epochs": 2,
            "train_limit": 64,
            "batch_size": 32,
            "device": "cpu",
            "tracking": False,
            "data_root": str(prepared_root),
            "out": str(tmp_path / "run"),
            "switcher.warmup_epochs": 0,
            **overrides,
        },
    )
    watch = ParamWatch()
    train(cfg, callbacks=[watch], bar=False)
    return watch


@pytest.mark.parametrize("arch", ["lenet300", "lenet5"])
def test_phases_update_what_the_reference_updates(prepared_root, tmp_path, arch) -> None:
    overrides = {"model.hidden": [32, 16]} if arch == "lenet300" else {"model.hidden": 32}
    watch = _run(prepared_root, tmp_path, arch, **overrides)
    backbone = {"backbone"} if arch == "lenet5" else set()  # lenet300: every layer switched
    assert watch.changed == [
        ("tnn", {"W", "snn_norm"} | backbone),  # conv kernels frozen, BN affine trains
        ("snn", {"snn_norm", "snn_conv"} | backbone),  # W frozen
    ]


def test_frozen_normalisation_variant_is_an_option(prepared_root, tmp_path) -> None:
    watch = _run(
        prepared_root,
        tmp_path,
        "lenet300",
        **{"model.hidden": [32, 16], "switcher.train_snn_norm_in_tnn_phase": False},
    )
    assert watch.changed[0] == ("tnn", {"W"})


def _print_config(capsys: pytest.CaptureFixture, *extra: str) -> dict[str, Any]:
    assert (
        main(
            [
                "train",
                "--arch",
                "lenet5",
                "--dataset",
                "mnist",
                "--method",
                "switcher",
                "--print-config",
                *extra,
            ]
        )
        == 0
    )
    return json.loads(capsys.readouterr().out)


def test_bare_cli_resolves_the_pipelines_config(tmp_path, capsys, monkeypatch) -> None:
    """No --params: exactly what `weightswitch params` composes for conf/'s defaults."""
    monkeypatch.chdir(ROOT)
    pipeline = tmp_path / "params.yaml"
    compose_params(ROOT / "conf", pipeline, None, None, [])
    bare = _print_config(capsys)
    assert bare == _print_config(capsys, "--params", str(pipeline))
    # and the reference's settings are what it holds
    assert bare["optimizer"]["grad_clip"] is None
    assert bare["switcher"]["snn_optimizer"]["grad_clip"] is None
    assert bare["fc_bias"] is False and bare["input_norm"] == "reference"
    assert bare["switcher"]["train_snn_norm_in_tnn_phase"] is True
    assert (bare["optimizer"]["name"], bare["optimizer"]["lr"], bare["batch_size"]) == (
        "sgd",
        0.1,
        64,
    )


@pytest.mark.parametrize("profile", ["paper", "quick", "smoke"])
def test_no_profile_clips_or_adds_bias(tmp_path, profile) -> None:
    params = tmp_path / "p.yaml"
    compose_params(ROOT / "conf", params, "study", profile, [])
    from weightswitch.config import load_params

    loaded = load_params(params)
    for method in ("dense", "switcher", "switcher-neuron"):
        cfg = build_config("lenet300", "mnist", method, loaded)
        assert cfg.optimizer.grad_clip is None and not cfg.fc_bias
        assert cfg.input_norm == "reference"


def test_models_have_no_fc_bias_by_default() -> None:
    from weightswitch.models import build_model

    for arch, dataset in (("lenet300", "mnist"), ("lenet5", "mnist"), ("resnet18", "cifar10")):
        model = build_model(arch, dataset)
        assert all(model.get_submodule(n).bias is None for n in model.switchable)
        biased = build_model(arch, dataset, fc_bias=True)
        assert all(biased.get_submodule(n).bias is not None for n in biased.switchable)
