"""Architecture registry: which model fits which dataset, and `build_model`."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from weightswitch.catalog import FC_INITS
from weightswitch.data.registry import get_spec
from weightswitch.errors import UsageError, unknown_choice
from weightswitch.models.lenet import LeNet5, LeNet300
from weightswitch.models.mobilenet import MobileNet
from weightswitch.models.resnet import resnet18, resnet34
from weightswitch.models.vgg import VGG16

MNIST_FAMILY = ("mnist", "fashion_mnist")
CIFAR_FAMILY = ("cifar10", "cifar100")


@dataclass(frozen=True)
class Arch:
    """A model builder taking (in_channels, num_classes, image_size, **options)."""

    name: str
    builder: Callable[..., nn.Module]
    datasets: tuple[str, ...]
    description: str


ARCHS: dict[str, Arch] = {
    a.name: a
    for a in (
        Arch("lenet300", LeNet300, MNIST_FAMILY, "LeNet-300-100 MLP"),
        Arch("lenet5", LeNet5, MNIST_FAMILY, "LeNet-5 (conv 20, conv 50, FC 800-500)"),
        Arch("resnet18", resnet18, CIFAR_FAMILY, "ResNet18, CIFAR stem"),
        Arch("resnet34", resnet34, CIFAR_FAMILY, "ResNet34, CIFAR stem"),
        Arch("vgg16", VGG16, CIFAR_FAMILY, "VGG16-BN, CIFAR-style, FC head"),
        Arch("mobilenet", MobileNet, CIFAR_FAMILY, "MobileNet v1, CIFAR-style"),
    )
}


def list_archs() -> list[str]:
    return list(ARCHS)


def get_arch(name: str) -> Arch:
    try:
        return ARCHS[name]
    except KeyError:
        raise unknown_choice("arch", name, ARCHS) from None


def arch_options(name: str) -> list[str]:
    """Keyword options of an arch's builder (e.g. vgg16's head_width)."""
    params = inspect.signature(get_arch(name).builder).parameters
    return [p for p in params if p not in ("in_channels", "num_classes", "image_size")]


def _dataset_geometry(dataset: str) -> tuple[int, int, int]:
    """(channels, image size, classes) from the dataset registry."""
    spec = get_spec(dataset)
    if spec.height != spec.width:
        raise UsageError(f"dataset {dataset!r}: models expect square images")
    return spec.channels, spec.height, spec.num_classes


def switchable_names(model: nn.Module) -> tuple[str, ...]:
    """The dotted names of the FC layers the study switches (`model.switchable`; none for a
    module that declares none)."""
    return tuple(getattr(model, "switchable", ()))


FC_INIT_STD = 0.01  # the reference switcher's N(0, 0.01) for the switched FC weights


@torch.no_grad()
def init_switchable(model: nn.Module, scheme: str) -> None:
    """Initialise the switchable FC layers: "reference" W ~ N(0, 0.01), b = 0 (the reference
    switcher's init, drawn from the current RNG state); "pytorch" keeps nn.Linear's own."""
    if scheme == "pytorch":
        return
    if scheme != "reference":
        raise unknown_choice("fc_init", scheme, FC_INITS)
    for name in model.switchable:
        layer = model.get_submodule(name)
        nn.init.normal_(layer.weight, 0.0, FC_INIT_STD)
        if layer.bias is not None:
            nn.init.zeros_(layer.bias)


def build_model(
    arch: str, dataset: str, fc_bias: bool = False, fc_init: str = "pytorch", **kwargs: Any
) -> nn.Module:
    """Build `arch` sized for `dataset`; `kwargs` are the arch's options (e.g. vgg16 head_width).

    `fc_bias=False` (the reference's switched layers) removes the bias of every switchable FC
    layer, for every method alike, so dense, switcher and pruned runs share one architecture.
    `fc_init` (see `init_switchable`): runs pass their config's, the same for every method."""
    spec = get_arch(arch)
    channels, size, classes = _dataset_geometry(dataset)
    if dataset not in spec.datasets:
        raise UsageError(
            f"arch {arch!r} does not fit dataset {dataset!r}; "
            f"{arch} works with: {', '.join(spec.datasets)}"
        )
    options = arch_options(arch)
    for key in kwargs:
        if key not in options:
            raise unknown_choice(f"option for arch {arch!r}", key, options or ["(none)"])
    model = spec.builder(in_channels=channels, num_classes=classes, image_size=size, **kwargs)
    if not fc_bias:
        for name in model.switchable:
            model.get_submodule(name).register_parameter("bias", None)
    init_switchable(model, fc_init)
    return model
