"""Run config: params precedence, routing of keys, validation messages, serialisation."""

from __future__ import annotations

import json

import pytest

from weightswitch.config import (
    RunConfig,
    build_config,
    config_from_json,
    flatten,
    load_params,
)
from weightswitch.errors import UsageError

PARAMS = {
    "profile": "quick",
    "data": {"root": "somewhere"},
    "recipe": {
        "epochs": 4,
        "batch_size": 64,
        "train_limit": 1000,
        "optimizer": {"name": "sgd", "lr": 0.1, "momentum": 0.0},
        "schedule": {"name": "multistep", "milestones": [2, 3], "gamma": 0.1},
    },
    "archs": {
        "lenet5": {"warmup_epochs": 1, "batch_size": 32},
        "vgg16": {"head_width": 512, "epochs": 2},
    },
    "methods": {
        "dense": {},
        "switcher": {
            "granularity": "connection",
            "phase_unit": "step",
            "phase_length": 5,
            "snn_optimizer": {"name": "sgd", "lr": 0.05},
            "epochs": 6,
        },
        "magnitude": {"scope": "layer", "finetune_epochs": 2},
    },
}


def test_precedence_recipe_arch_method_cli() -> None:
    cfg = build_config("lenet5", "mnist", "switcher", PARAMS, {"optimizer.lr": 0.01})
    assert cfg.profile == "quick" and cfg.data_root == "somewhere"
    assert cfg.batch_size == 32  # archs beats recipe
    assert cfg.epochs == 6  # methods beats recipe
    assert cfg.optimizer.lr == 0.01 and cfg.optimizer.momentum == 0.0  # CLI beats all
    assert cfg.schedule.milestones == [2, 3]
    assert cfg.switcher is not None and cfg.prune is None
    assert cfg.switcher.warmup_epochs == 1 and cfg.switcher.phase_unit == "step"
    assert cfg.switcher.snn_optimizer.lr == 0.05
    assert cfg.out == "results/runs/quick/mnist-lenet5-switcher-s0"


def test_method_specific_keys_are_ignored_elsewhere() -> None:
    dense = build_config("lenet5", "mnist", "dense", PARAMS)
    assert dense.switcher is None and dense.prune is None  # warmup_epochs ignored for dense
    assert build_config("vgg16", "cifar10", "dense", PARAMS).model == {"head_width": 512}
    neuron = build_config("lenet300", "mnist", "switcher-neuron", PARAMS)
    assert neuron.switcher is not None and neuron.switcher.granularity == "neuron"


def test_prune_paths_expand_placeholders() -> None:
    cfg = build_config(
        "lenet300",
        "mnist",
        "magnitude",
        PARAMS,
        {"prune.match": "runs/{profile}/{dataset}-{arch}-switcher-s{seed}", "seed": 2},
    )
    assert cfg.prune is not None and cfg.prune.criterion == "magnitude"
    assert cfg.prune.match == "runs/quick/mnist-lenet300-switcher-s2"
    assert cfg.prune.finetune_epochs == 2


def test_json_round_trip_and_flatten() -> None:
    cfg = build_config("lenet5", "mnist", "switcher", PARAMS)
    data = json.loads(cfg.to_json())
    again = config_from_json(data)
    assert again == cfg and isinstance(again, RunConfig)
    flat = flatten(data)
    assert flat["optimizer.lr"] == 0.1 and flat["switcher.snn_optimizer.lr"] == 0.05
    assert flat["schedule.milestones"] == [2, 3]


@pytest.mark.parametrize(
    ("method", "overrides", "message"),
    [
        ("nope", {}, "unknown method 'nope'; valid choices: dense, switcher"),
        ("dense", {"schedule.name": "linear"}, "unknown schedule name 'linear'; valid choices"),
        ("dense", {"optimizer.name": "rmsprop"}, "valid choices: sgd, adam, adamw"),
        ("switcher", {"switcher.phase_unit": "batch"}, "unknown phase unit 'batch'"),
        ("dense", {"epochs": 0}, "epochs must be > 0, got 0"),
        ("dense", {"optimizer.lr": -1.0}, "optimizer.lr must be > 0"),
        ("dense", {"device": "tpu"}, "unknown device 'tpu'; valid choices: auto, cpu, cuda"),
        ("dense", {"amp": "fp8"}, "unknown amp mode 'fp8'; valid choices: off, bf16"),
        ("magnitude", {"prune.sparsity": 1.0}, "sparsity must be in [0, 1), got 1.0"),
        ("magnitude", {"prune.sparsity": -0.1}, "sparsity must be in [0, 1)"),
        ("random", {}, "exactly one target: --sparsity F or --match RUN_DIR"),
        ("magnitude", {"prune.sparsity": 0.5, "prune.scope": "net"}, "unknown prune scope"),
        ("dense", {"switcher.phase_length": 2}, "phase_length does not apply to method 'dense'"),
        ("switcher", {"switcher.warmup_epochs": 9}, "warmup_epochs must be in [0, epochs=6)"),
        ("switcher-neuron", {"switcher.granularity": "connection"}, "uses granularity 'neuron'"),
        ("dense", {"schedule.milestones": [3, 2]}, "milestones must be increasing"),
        ("dense", {"epochs": "many"}, "epochs must be an integer, got 'many'"),
        ("dense", {"optimizer.betas": 1}, "unknown key 'optimizer.betas'; valid keys:"),
    ],
)
def test_validation_messages(method: str, overrides: dict, message: str) -> None:
    with pytest.raises(UsageError) as info:
        build_config("lenet300", "mnist", method, PARAMS, overrides)
    text = str(info.value)
    assert message in text and "\n" not in text


def test_load_params_errors(tmp_path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("recipe: [unclosed\n")
    with pytest.raises(UsageError, match="not valid YAML"):
        load_params(bad)
    with pytest.raises(UsageError, match="cannot read params file"):
        load_params(tmp_path / "missing.yaml")
    good = tmp_path / "params.yaml"
    good.write_text("profile: smoke\nrecipe: {epochs: 2}\n")
    assert build_config("lenet300", "mnist", "dense", load_params(good)).epochs == 2


def test_repo_params_file_resolves_for_every_method() -> None:
    """The pipeline's params.yaml (whatever profile it holds) builds for every stage."""
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "params.yaml"
    if not path.is_file():
        pytest.skip("no params.yaml")
    params = load_params(path)
    for model in params.get("models", []):
        for method in ("dense", "switcher", "switcher-neuron"):
            build_config(model["arch"], model["dataset"], method, params)
        for method in ("magnitude", "random"):
            build_config(model["arch"], model["dataset"], method, params, {"prune.match": "x"})


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("{name: gate, parent: switcher-noise}", "gate prunes a switcher run, not"),
        ("{name: magnitude, parent: dense}", "with M one of gate, gate-free, gate-noise"),
        ("{name: control, parent: dense}", "with M one of gate, gate-free, gate-noise"),
        ("gate", "is not {name: M, parent: P}"),
    ],
)
def test_gate_frontier_entries_are_checked(tmp_path, entry: str, message: str) -> None:
    """dvc.yaml's gate-frontier@ stage takes the parent from params: a wrong one is refused in
    one line before any stage runs."""
    path = tmp_path / "params.yaml"
    path.write_text(f"recipe: {{epochs: 2}}\nfrontier: {{gate_methods: [{entry}]}}\n")
    with pytest.raises(UsageError, match=message.replace("(", r"\(")) as info:
        load_params(path)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("{name: gate, parent: switcher}", "with M one of control, control-free"),
        ("{name: control-switcher, parent: dense}", "control-switcher prunes a switcher run"),
    ],
)
def test_control_entries_are_checked(tmp_path, entry: str, message: str) -> None:
    """dvc.yaml's control@ stage takes the parent from params, like gate-frontier@."""
    path = tmp_path / "params.yaml"
    path.write_text(f"recipe: {{epochs: 2}}\nfrontier: {{controls: [{entry}]}}\n")
    with pytest.raises(UsageError, match=message) as info:
        load_params(path)
    assert "\n" not in str(info.value)


def test_a_control_prunes_nothing() -> None:
    with pytest.raises(UsageError, match="pass --sparsity 0"):
        build_config("lenet300", "mnist", "control", overrides={"prune.sparsity": 0.5})
    cfg = build_config("lenet300", "mnist", "control", overrides={"prune.sparsity": 0.0})
    assert cfg.prune.criterion == "none"


def test_train_flags_are_generated_from_the_schema() -> None:
    """Issue 39: every settings flag of `train` comes from a field of the schema, spelled by
    its metadata, and sets that field's dotted key; every field has its help beside it."""
    import dataclasses
    import typing

    from weightswitch.config import settings_flags
    from weightswitch.config.validate import coerce

    flags = {f.flag: f.key for f in settings_flags()}
    assert flags["--seed"] == "seed" and flags["--root"] == "data_root"
    assert flags["--mlflow"] == "tracking" and flags["--optimizer"] == "optimizer.name"
    assert flags["--snn-optimizer"] == "switcher.snn_optimizer.name"
    assert flags["--snn-lr"] == "switcher.snn_optimizer.lr"
    assert flags["--prune-steps"] == "prune.steps"
    assert flags["--finetune-milestones"] == "prune.finetune_schedule.milestones"
    for absent in ("--granularity", "--snn-nesterov", "--finetune-stop-lr", "--grid", "--model"):
        assert absent not in flags  # fixed by the method, refused, or not a command-line setting
    assert len(flags) == len(set(flags.values())) == 59

    def field(cls: type, key: str) -> dataclasses.Field:
        head, _, rest = key.partition(".")
        found = {f.name: f for f in dataclasses.fields(cls)}[head]
        if not rest:
            return found
        inner = typing.get_type_hints(cls)[head]
        inner = next(t for t in (inner, *typing.get_args(inner)) if dataclasses.is_dataclass(t))
        return field(inner, rest)

    for key in [*flags.values(), "switcher.snn_schedule", "model", "grid"]:
        assert field(RunConfig, key).metadata["help"], key  # each field has its help text
    with pytest.raises(UsageError, match=r"x\.lr must be a number, got True"):
        coerce(True, float, "x.lr")
