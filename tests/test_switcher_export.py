"""gate_stats (dense, pruned, switched) and export (switched and pruned models)."""

from __future__ import annotations

from collections import OrderedDict

import pytest
import torch
from torch import nn
from torch.nn.utils import prune

from weightswitch import checkpoint
from weightswitch.models import build_model
from weightswitch.switcher import (
    SwitchedLinear,
    attach_switcher,
    export,
    gate_stats,
    init_switched_weights,
    switched_layers,
)

INPUT = {"lenet300": (1, 28), "lenet5": (1, 28), "resnet18": (3, 32), "vgg16": (3, 32)}


class FixedGates(nn.Module):
    """Stand-in SNN returning fixed gates, so statistics can be computed by hand."""

    granularity = "connection"

    def __init__(self, gates: torch.Tensor) -> None:
        super().__init__()
        self.g = nn.Parameter(gates)

    def forward(self, weight):
        return self.g

    def macs(self) -> int:
        return 7


class Tiny(nn.Sequential):
    def __init__(self) -> None:
        super().__init__(
            OrderedDict(fc1=nn.Linear(4, 3), relu=nn.ReLU(), fc2=nn.Linear(3, 2, bias=False))
        )
        self.switchable = ("fc1", "fc2")


def test_gate_stats_by_hand():
    model = attach_switcher(Tiny(), layers=["fc1"])
    gates = torch.tensor([[0.0, 1.0, 2.0, 0.0], [1.0, 1.0, 0.0, 0.0], [0.5, 0.0, 1.0, 1.0]])
    model.fc1.snn = FixedGates(gates)
    with torch.no_grad():
        model.fc1.weight.fill_(1.0)
        model.fc1.weight[0, 1] = 0.0  # a zero weight under a non-zero gate counts too
        model.fc2.weight.fill_(1.0)
        model.fc2.weight[1, 2] = 0.0
    stats = gate_stats(model)
    fc1, fc2 = stats["layers"]["fc1"], stats["layers"]["fc2"]
    assert (fc1["kind"], fc1["weights"], fc1["zero"], fc1["sparsity"]) == ("switched", 12, 6, 0.5)
    assert (fc1["gate_min"], fc1["gate_max"], fc1["gate_zero"]) == (0.0, 2.0, 5 / 12)
    assert fc1["gate_mean"] == pytest.approx(7.5 / 12)
    assert (fc1["snn_params"], fc1["snn_macs"]) == (12, 7)
    assert (fc2["kind"], fc2["zero"], fc2["gate_mean"], fc2["snn_params"]) == ("dense", 1, None, 0)
    assert stats["fc_weights"] == 18 and stats["fc_zero"] == stats["fc_macs_removed"] == 7
    assert stats["fc_sparsity"] == pytest.approx(7 / 18)
    assert stats["layer_sparsity"] == {"fc1": 0.5, "fc2": 1 / 6}
    assert (stats["total_params"], stats["nonzero_params"], stats["snn_params"]) == (21, 14, 12)
    assert stats["compression_ratio"] == pytest.approx(21 / 14)


def test_same_keys_for_dense_pruned_switched():
    dense = build_model("lenet300", "mnist", fc_bias=True)
    pruned = build_model("lenet300", "mnist", fc_bias=True)
    for name in pruned.switchable:
        prune.l1_unstructured(pruned.get_submodule(name), "weight", amount=0.75)
    prune.random_unstructured(pruned.fc1, "bias", amount=0.5)  # not an FC weight: counted apart
    switched = attach_switcher(build_model("lenet300", "mnist", fc_bias=True), "neuron")
    stats = [gate_stats(m) for m in (dense, pruned, switched)]
    assert stats[0].keys() == stats[1].keys() == stats[2].keys()
    assert all(s["layers"]["fc1"].keys() == stats[0]["layers"]["fc1"].keys() for s in stats)
    assert stats[0]["fc_sparsity"] == 0 and stats[0]["compression_ratio"] == 1
    assert stats[1]["fc_sparsity"] == pytest.approx(0.75, abs=1e-4)
    assert stats[1]["layers"]["fc2"]["kind"] == "pruned"
    assert stats[1]["zero_params"] == stats[1]["fc_zero"] + 150
    assert stats[1]["total_params"] == stats[0]["total_params"] == stats[2]["total_params"]
    neuron = stats[2]["layers"]["fc2"]
    gates = switched.fc2.gates().detach()
    assert neuron["zero"] == int((gates == 0).sum()) * 100
    assert stats[2]["snn_params"] == sum(p.numel() for p in switched.fc1.snn.parameters()) + sum(
        p.numel() for m in (switched.fc2, switched.fc3) for p in m.snn.parameters()
    )


@pytest.mark.parametrize("granularity", ["connection", "neuron"])
@pytest.mark.parametrize("arch", ["lenet300", "lenet5", "resnet18", "vgg16"])
def test_export_matches_switched(arch, granularity):
    torch.manual_seed(0)
    dataset = "mnist" if arch.startswith("lenet") else "cifar10"
    kwargs = {"head_width": 256} if arch == "vgg16" else {}
    model = attach_switcher(build_model(arch, dataset, **kwargs), granularity)
    init_switched_weights(model)
    model.eval()
    channels, size = INPUT[arch]
    x = torch.randn(4, channels, size, size)
    plain = export(model)
    assert not any(isinstance(m, SwitchedLinear) for m in plain.modules())
    assert switched_layers(model)  # the original is untouched
    with torch.no_grad():
        torch.testing.assert_close(plain(x), model(x), rtol=0, atol=1e-5)
    if granularity == "neuron" and arch in ("lenet300", "vgg16"):
        # Zero-gated inputs are physically removed, with the previous FC layer's outputs.
        first, second = (plain.get_submodule(n) for n in model.switchable[:2])
        kept = int((switched_layers(model)[model.switchable[1]].gates() > 0).sum())
        assert second.in_features == first.out_features == kept
    stats = gate_stats(model)
    weights = sum(m.weight.numel() for n, m in plain.named_modules() if isinstance(m, nn.Linear))
    assert weights <= stats["fc_weights"]


def test_export_removes_pruning():
    model = build_model("lenet5", "mnist").eval()
    prune.l1_unstructured(model.classifier.fc1, "weight", amount=0.9)
    prune.l1_unstructured(model.features[0], "weight", amount=0.5)
    model(torch.randn(1, 1, 28, 28)).sum().backward()  # `weight` is now a non-leaf tensor
    plain = export(model)
    assert not any(hasattr(m, "weight_orig") for m in plain.modules())
    assert isinstance(plain.classifier.fc1.weight, nn.Parameter)
    x = torch.randn(3, 1, 28, 28)
    with torch.no_grad():
        torch.testing.assert_close(plain(x), model(x), rtol=0, atol=1e-6)
    stats = gate_stats(plain)
    assert stats["layers"]["classifier.fc1"]["sparsity"] == pytest.approx(0.9)


def _bench(argv):
    import argparse

    from weightswitch.bench import export as bench
    from weightswitch.options import parse_options

    argv = [*argv, "--min-seconds", "0", "--batch-sizes", "1", "4"]
    return bench.run(parse_options(argparse.ArgumentParser(), bench.Options, argv))


def test_bench_export_smoke(capsys):
    assert _bench(["--arch", "lenet300", "--snn-shapes", "30x20"]) == 0
    out = capsys.readouterr().out
    assert "exported switched-neuron" in out and "SNN 30x20" in out


@pytest.mark.parametrize("method", ["switcher", "magnitude"])
def test_bench_export_from_checkpoint(tmp_path, capsys, method):
    model = build_model("lenet300", "mnist")
    config = {"arch": "lenet300", "dataset": "mnist", "method": method, "model": {}}
    if method == "switcher":
        attach_switcher(model, "neuron")
        config["switcher"] = {"granularity": "neuron"}
    else:
        prune.l1_unstructured(model.fc1, "weight", amount=0.5)
    # in the run's checkpoint format (checksum header), as `weightswitch train` writes it
    checkpoint.save(tmp_path / "checkpoint.pt", {"config": config, "model": model.state_dict()})
    assert _bench(["--checkpoint", str(tmp_path / "checkpoint.pt")]) == 0
    assert f"exported {method}" in capsys.readouterr().out
