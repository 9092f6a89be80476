"""The SNN U-Net, SwitchedLinear, attach and the parameter groups."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from weightswitch.errors import UsageError
from weightswitch.models import build_model
from weightswitch.switcher import (
    SwitchedLinear,
    SwitcherNet,
    UNet,
    attach_switcher,
    init_switched_weights,
    plan_levels,
    snn_parameters,
    switched_layers,
    switched_weights,
    task_parameters,
)
from weightswitch.switcher.unet import SelfNorm2d

# (in, out) image sizes: the study's layers plus awkward ones.
SIZES = [(512, 10), (100, 300), (300, 784), (500, 800), (10, 1024), (7, 3), (1, 1), (4096, 512)]


@pytest.mark.parametrize(("rows", "cols"), SIZES)
def test_unet_restores_input_size(rows, cols):
    unet = UNet(rows, cols)
    with torch.no_grad():
        assert unet(torch.randn(1, 1, rows, cols)).shape == (1, 1, rows, cols)


@pytest.mark.parametrize(
    ("rows", "cols", "levels", "params"),
    [  # reference sizes: ResNet18 head, LeNet-5 fc1, LeNet-300-100's three layers
        (512, 10, 6, 962_402),
        (800, 500, 6, 1_032_034),
        (784, 300, 6, 1_048_418),
        (300, 100, 5, 267_106),
        (100, 10, 5, 244_578),
        (7, 3, 1, 162),
    ],
)
def test_depth_rule_and_reference_sizes(rows, cols, levels, params):
    assert len(plan_levels(rows, cols)) == levels
    assert sum(p.numel() for p in UNet(rows, cols).parameters()) == params


def test_depth_parameters():
    assert len(UNet(512, 10, max_depth=3).sizes) == 3
    assert UNet(512, 10, widths=(4, 8)).widths == (4, 8)
    assert [size for size, _ in plan_levels(64, 64, min_size=16)] == [(64, 64), (32, 32), (16, 16)]
    assert [size for size, _ in plan_levels(512, 10)][-1] == (16, 5)  # narrow axis: stride 1


@pytest.mark.parametrize("granularity", ["connection", "neuron"])
@pytest.mark.parametrize(("fan_in", "fan_out"), [(784, 300), (100, 10), (512, 10), (64, 100)])
def test_initial_gates(granularity, fan_in, fan_out):
    torch.manual_seed(1)
    layer = SwitchedLinear(fan_in, fan_out, granularity=granularity)
    with torch.no_grad():
        gates = layer.gates()
    assert gates.shape == ((fan_out, fan_in) if granularity == "connection" else (fan_in,))
    assert (gates >= 0).all()
    assert 0.2 < (gates == 0).float().mean().item() < 0.8


def test_snn_kaiming_init_and_no_running_stats():
    snn = SwitcherNet(100, 10, "neuron")
    assert not list(snn.buffers())
    norms = [m for m in snn.modules() if isinstance(m, nn.BatchNorm2d)]
    assert norms and all(isinstance(m, SelfNorm2d) and m.running_mean is None for m in norms)
    conv = snn.unet.encoders[1][0]
    fan_out = conv.out_channels * 9
    assert abs(conv.weight.std().item() - (2 / fan_out) ** 0.5) < 0.3 * (2 / fan_out) ** 0.5


@pytest.mark.parametrize("granularity", ["connection", "neuron"])
def test_eval_gates_equal_train_gates(granularity):
    layer = SwitchedLinear(64, 20, granularity=granularity)
    state = {k: v.clone() for k, v in layer.state_dict().items()}
    x = torch.randn(5, 64)
    train_out, train_gates = layer.train()(x), layer.gates()
    layer.eval()
    with torch.no_grad():
        assert torch.equal(layer.gates(), train_gates.detach())
        assert torch.equal(layer(x), train_out.detach())
    for key, value in layer.state_dict().items():
        assert torch.equal(value, state[key])


def test_gate_cache_tracks_weight_and_snn():
    layer = SwitchedLinear(32, 16).eval()
    with torch.no_grad():
        first = layer.gates()
        assert layer.gates() is first  # cached, and so is W * G
        assert layer.effective_weight() is layer.effective_weight()
        layer.weight.mul_(-1)
        second = layer.gates()
        assert second is not first
        torch.testing.assert_close(second, layer.snn(layer.weight))
        next(layer.snn.parameters()).add_(0.5)
        third = layer.gates()
        assert third is not second
        torch.testing.assert_close(third, layer.snn(layer.weight))
    assert layer.gates().requires_grad  # grad mode: fresh gates with a graph


@pytest.mark.parametrize("granularity", ["connection", "neuron"])
def test_zero_gate_switches_weight_off(granularity):
    torch.manual_seed(0)
    layer = SwitchedLinear(40, 12, granularity=granularity).eval()
    x = torch.randn(3, 40)
    with torch.no_grad():
        gates = layer.gates()
        layer.snn.forward = lambda weight: gates  # freeze G: test only W's direct path
        off, on = (gates == 0).nonzero()[0], (gates > 0).nonzero()[0]
        if granularity == "neuron":  # a whole input column is switched off
            off, on = (torch.tensor(3), *off), (torch.tensor(3), *on)
        before = layer(x)
        layer.weight[tuple(off)] += 5.0
        assert torch.equal(layer(x), before)
        layer.weight[tuple(on)] += 5.0
        assert not torch.equal(layer(x), before)


@pytest.mark.parametrize("granularity", ["connection", "neuron"])
def test_gradients_reach_weight_and_snn(granularity):
    model = attach_switcher(build_model("lenet300", "mnist"), granularity)
    model(torch.randn(4, 1, 28, 28)).square().sum().backward()
    for layer in switched_layers(model).values():
        assert layer.weight.grad is not None and layer.weight.grad.abs().sum() > 0
        grads = [p.grad for p in layer.snn.parameters()]
        assert all(g is not None for g in grads)
        assert sum(g.abs().sum() for g in grads) > 0


def test_weight_gradient_flows_through_gate_computation():
    layer = SwitchedLinear(16, 8)
    x = torch.randn(4, 16)
    layer(x).sum().backward()
    full = layer.weight.grad.clone()
    gates = layer.gates().detach()
    layer.weight.grad = None
    torch.nn.functional.linear(x, layer.weight * gates, layer.bias).sum().backward()
    assert not torch.allclose(full, layer.weight.grad)  # the SNN path contributes


def test_attach_keeps_weights_and_replaces_in_place():
    model = build_model("lenet5", "mnist")
    before = {n: model.get_submodule(n) for n in model.switchable}
    same = attach_switcher(model, "neuron")
    assert same is model
    layers = switched_layers(model)
    assert list(layers) == list(model.switchable)
    for name, linear in before.items():
        assert layers[name].weight is linear.weight and layers[name].bias is linear.bias
        assert layers[name].granularity == "neuron"
    assert model(torch.randn(2, 1, 28, 28)).shape == (2, 10)


def test_attach_selected_layers_and_snn_kwargs():
    model = attach_switcher(build_model("lenet300", "mnist"), layers=["fc3"], widths=(4, 8))
    assert list(switched_layers(model)) == ["fc3"]
    assert model.fc3.snn.unet.widths == (4, 8)


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"granularity": "unit"}, "valid choices: connection, neuron"),
        ({"layers": ["relu1"]}, "is a ReLU, not an nn.Linear"),
        ({"layers": ["fc9"]}, "unknown layer 'fc9'; valid choices: fc1, fc2, fc3"),
    ],
)
def test_attach_errors(kwargs, needle):
    with pytest.raises(UsageError, match=needle):
        attach_switcher(build_model("lenet300", "mnist"), **kwargs)


def test_parameter_groups_partition_the_model():
    model = attach_switcher(build_model("lenet5", "mnist", fc_bias=True))
    snn, task, sw = snn_parameters(model), task_parameters(model), switched_weights(model)
    ids = lambda params: {id(p) for p in params}  # noqa: E731
    assert ids(snn) | ids(task) == ids(model.parameters())
    assert not ids(snn) & ids(task)
    assert ids(sw) <= ids(task) and len(sw) == 4  # W and b of both FC layers
    assert len(task) == len(list(build_model("lenet5", "mnist", fc_bias=True).parameters()))


def test_init_switched_weights():
    torch.manual_seed(0)
    model = attach_switcher(build_model("lenet300", "mnist", fc_bias=True))
    init_switched_weights(model, std=0.01)
    assert abs(model.fc1.weight.std().item() - 0.01) < 1e-3
    assert torch.count_nonzero(model.fc1.bias) == 0


def test_single_value_image():
    layer = SwitchedLinear(1, 1)
    with torch.no_grad():
        assert layer.gates().shape == (1, 1)
    assert layer(torch.randn(2, 1)).shape == (2, 1)
