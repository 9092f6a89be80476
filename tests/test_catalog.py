"""The method catalog is the one list of methods: the config, the method factory, the pruning
criteria, the report and the figure styles all read it, and a method registered later is a
method everywhere. The built-in pruning criteria prune exactly as torch's pruning did."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch
from torch import nn
from torch.nn.utils import prune

from weightswitch import catalog, config
from weightswitch.catalog import MethodSpec
from weightswitch.errors import UsageError
from weightswitch.methods import make_method, method_class
from weightswitch.methods import prune as P

BUILT_IN = (
    "dense",
    "switcher",
    "switcher-neuron",
    "magnitude",
    "random",
    "iterative",
    "switcher-noise",
    "free-gates",
    "free-gates-neuron",
    "gate",
    "gate-weight",
    "gate-noise",
    "gate-weight-noise",
    "gate-free",
    "gate-weight-free",
    "weight-alone",
    "weight-alone-noise",
    "weight-alone-free",
    "gate-random",
    "gate-random-noise",
    "gate-random-free",
    "control",
    "control-switcher",
    "control-noise",
    "control-free",
    "magnitude-output-denser",
)


@pytest.fixture
def toy() -> Iterator[MethodSpec]:
    spec = catalog.register_method(MethodSpec("toy-prune", "prune", "a toy", criterion="random"))
    yield spec
    catalog.unregister_method(spec.name)


def test_the_built_in_methods_in_catalog_order() -> None:
    assert catalog.METHODS == BUILT_IN
    assert catalog.STUDY_METHODS == ("dense", "switcher", "switcher-neuron", "magnitude", "random")
    assert dict(catalog.PRUNE_CRITERIA) == {
        "magnitude": "magnitude",
        "random": "random",
        "iterative": "magnitude",
        "gate": "gate",
        "gate-weight": "gate-weight",
        "gate-noise": "gate",
        "gate-weight-noise": "gate-weight",
        "gate-free": "gate",
        "gate-weight-free": "gate-weight",
        "weight-alone": "weight-alone",
        "weight-alone-noise": "weight-alone",
        "weight-alone-free": "weight-alone",
        "gate-random": "random",
        "gate-random-noise": "random",
        "gate-random-free": "random",
        "control": "none",
        "control-switcher": "none",
        "control-noise": "none",
        "control-free": "none",
        "magnitude-output-denser": "magnitude",
    }
    assert catalog.SWITCHER_VARIANTS["switcher-noise"] == {
        "granularity": "connection",
        "gate_net": "unet",
        "snn_input": "noise",
    }


def _sparsity(method: str) -> float:
    """A valid target: a control (criterion none) prunes nothing."""
    return 0.0 if catalog.PRUNE_CRITERIA[method] == "none" else 0.5


def test_every_reader_reads_the_catalog() -> None:
    from weightswitch.report import collect, frontier, style

    assert config.METHODS is catalog.METHODS and config.PRUNE_CRITERIA is catalog.PRUNE_CRITERIA
    assert config.SWITCHER_VARIANTS is catalog.SWITCHER_VARIANTS
    assert frontier.VARIANTS is catalog.SWITCHER_METHODS
    assert frontier.FRONTIER_METHODS is catalog.PRUNE_METHODS
    assert style.METHOD_STYLE is catalog.METHOD_STYLE
    assert collect.GATE_FIGURE_METHODS == ("switcher", "switcher-neuron")  # whose gates are shown
    for name in catalog.METHODS:
        cfg = config.build_config(
            "lenet300",
            "mnist",
            name,
            overrides={"prune.sparsity": _sparsity(name)}
            if name in catalog.PRUNE_METHODS
            else None,
        )
        method = make_method(cfg)
        assert (
            type(method).__name__
            == {"dense": "DenseMethod", "switcher": "SwitcherMethod", "prune": "PruneMethod"}[
                catalog.CATALOG[name].kind
            ]
        )
    assert {catalog.PRUNE_CRITERIA[m] for m in catalog.PRUNE_METHODS} <= set(P.CRITERIA)


def test_a_registered_method_is_a_method_everywhere(toy: MethodSpec) -> None:
    from weightswitch.report.collect import parse_run_name
    from weightswitch.report.style import method_colors

    assert catalog.METHODS[-1] == "toy-prune" and "toy-prune" in config.PRUNE_METHODS
    assert config.PRUNE_CRITERIA["toy-prune"] == "random"
    cfg = config.build_config("lenet300", "mnist", "toy-prune", overrides={"prune.sparsity": 0.3})
    assert method_class("toy-prune") is P.PruneMethod and cfg.prune.criterion == "random"
    assert parse_run_name("fashion_mnist-lenet5-toy-prune-s2") == {
        "dataset": "fashion_mnist",
        "arch": "lenet5",
        "method": "toy-prune",
        "seed": 2,
    }
    assert method_colors(["toy-prune"])["toy-prune"] == "#999999"  # a spare colour
    assert catalog.method_order(["zeta", "toy-prune", "dense"]) == ["dense", "toy-prune", "zeta"]
    catalog.unregister_method("toy-prune")
    assert "toy-prune" not in config.METHODS and "toy-prune" not in config.PRUNE_CRITERIA
    with pytest.raises(UsageError, match="unknown method 'toy-prune'"):
        config.build_config("lenet300", "mnist", "toy-prune")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": "Big"}, "lower-case words"),
        ({"name": "noise-s3"}, "-s<digits>"),
        ({"kind": "switcher"}, "only\\s+for\\) kind 'switcher'"),
        ({"kind": "prune"}, "criterion is set for"),
        ({"kind": "dense", "criterion": "magnitude"}, "criterion is set for"),
        ({"description": ""}, "needs a kind and a description"),
    ],
)
def test_a_bad_spec_is_refused(kwargs: dict, message: str) -> None:
    spec = {"name": "ok", "kind": "dense", "description": "d", **kwargs}
    with pytest.raises(ValueError, match=message):
        MethodSpec(**spec)


def test_a_name_is_registered_once(toy: MethodSpec) -> None:
    with pytest.raises(ValueError, match="already in the catalog"):
        catalog.register_method(toy)


def test_an_unknown_kind_or_criterion_fails_in_one_line() -> None:
    spec = catalog.register_method(MethodSpec("toy-kind", "lottery", "no class runs it"))
    try:
        with pytest.raises(UsageError, match="kind 'lottery', which no Method class runs"):
            method_class("toy-kind")
    finally:
        catalog.unregister_method(spec.name)
    with pytest.raises(
        UsageError, match="unknown pruning criterion 'nope'; valid choices: magnitude, random"
    ):
        P.get_criterion("nope")


def _layers() -> dict[str, nn.Linear]:
    torch.manual_seed(1)
    return {"fc1": nn.Linear(60, 40), "fc2": nn.Linear(40, 20), "fc3": nn.Linear(20, 5)}


@pytest.mark.parametrize("scope", ["layer", "global"])
@pytest.mark.parametrize(
    ("criterion", "torch_method"),
    [("magnitude", prune.L1Unstructured), ("random", prune.RandomUnstructured)],
)
def test_built_in_criteria_prune_exactly_as_torch_did(
    criterion: str, torch_method: type, scope: str
) -> None:
    """The masks (and, for random, the draws) of PRUNE=1, so no finished run changes; a layer
    with nothing to prune draws nothing."""
    counts = {"fc1": 1500, "fc2": 0, "fc3": 33}
    before = _layers()
    torch.manual_seed(7)
    if scope == "global":
        prune.global_unstructured(
            [(m, "weight") for m in before.values()],
            pruning_method=torch_method,
            amount=sum(counts.values()),
        )
    else:
        for name, module in before.items():
            torch_method.apply(module, "weight", amount=counts[name])
    after_torch = torch.rand(3)
    now = _layers()
    torch.manual_seed(7)
    masks = P.prune_masks(
        {n: m.weight for n, m in now.items()}, counts, P.CRITERIA[criterion], scope
    )
    assert all(torch.equal(masks[n], before[n].weight_mask) for n in counts)
    assert torch.equal(torch.rand(3), after_torch)  # the same number of draws
