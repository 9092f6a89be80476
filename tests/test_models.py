"""Model zoo: shapes, switchable layers, registry errors."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from weightswitch.errors import UsageError
from weightswitch.models import ARCHS, build_model, list_archs

PAIRS = [(arch, ds) for arch, spec in ARCHS.items() for ds in spec.datasets]
GEOMETRY = {"mnist": (1, 28, 10), "fashion_mnist": (1, 28, 10), "cifar10": (3, 32, 10)}
GEOMETRY["cifar100"] = (3, 32, 100)


def test_list_archs():
    assert list_archs() == ["lenet300", "lenet5", "resnet18", "resnet34", "vgg16", "mobilenet"]


@pytest.mark.parametrize(("arch", "dataset"), PAIRS)
def test_output_shape_and_switchable(arch, dataset):
    torch.manual_seed(0)
    channels, size, classes = GEOMETRY[dataset]
    model = build_model(arch, dataset).eval()
    with torch.no_grad():
        assert model(torch.randn(2, channels, size, size)).shape == (2, classes)
    assert model.switchable
    for name in model.switchable:
        assert isinstance(model.get_submodule(name), nn.Linear)
    assert model.get_submodule(model.switchable[-1]).out_features == classes


@pytest.mark.parametrize(
    ("arch", "shapes"),
    [
        ("lenet300", [(300, 784), (100, 300), (10, 100)]),
        ("lenet5", [(500, 800), (10, 500)]),
        ("resnet18", [(10, 512)]),
        ("resnet34", [(10, 512)]),
        ("vgg16", [(4096, 512), (4096, 4096), (10, 4096)]),
        ("mobilenet", [(10, 1024)]),
    ],
)
def test_switched_layer_shapes(arch, shapes):
    dataset = ARCHS[arch].datasets[0]
    model = build_model(arch, dataset)
    assert [tuple(model.get_submodule(n).weight.shape) for n in model.switchable] == shapes


def test_cifar_stem_keeps_resolution():
    model = build_model("resnet18", "cifar10")
    assert model.conv1.kernel_size == (3, 3) and model.conv1.stride == (1, 1)
    assert isinstance(model.maxpool, nn.Identity)


def test_vgg_head_options():
    model = build_model("vgg16", "cifar100", head_width=64, dropout=0.0)
    assert [model.get_submodule(n).weight.shape[0] for n in model.switchable] == [64, 64, 100]
    assert not any(isinstance(m, nn.Dropout) for m in model.modules())
    assert any(isinstance(m, nn.Dropout) for m in build_model("vgg16", "cifar10").modules())


@pytest.mark.parametrize(
    ("arch", "dataset", "kwargs", "needle"),
    [
        ("lenet", "mnist", {}, "valid choices: lenet300, lenet5, resnet18"),
        ("lenet5", "cifar10", {}, "works with: mnist, fashion_mnist"),
        ("vgg16", "mnist", {}, "works with: cifar10, cifar100"),
        ("lenet300", "svhn", {}, "unknown dataset"),
        ("vgg16", "cifar10", {"width": 3}, "head_width, dropout"),
    ],
)
def test_errors(arch, dataset, kwargs, needle):
    with pytest.raises(UsageError, match=needle):
        build_model(arch, dataset, **kwargs)
