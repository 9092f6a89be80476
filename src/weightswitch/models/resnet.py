"""CIFAR-style ResNet18/34, reusing torchvision's ResNet and BasicBlock.

CIFAR stem (He et al. 2016, as in most CIFAR code): one 3x3 stride-1 conv and no max-pool,
so 32x32 inputs reach the last stage at 4x4.
"""

from __future__ import annotations

from torch import nn
from torchvision.models.resnet import BasicBlock, ResNet

DEPTHS: dict[int, list[int]] = {18: [2, 2, 2, 2], 34: [3, 4, 6, 3]}


class CifarResNet(ResNet):
    """torchvision ResNet with the 3x3 stride-1 stem and no max-pool."""

    def __init__(self, depth: int = 18, in_channels: int = 3, num_classes: int = 10) -> None:
        super().__init__(BasicBlock, DEPTHS[depth], num_classes=num_classes)
        self.conv1 = nn.Conv2d(in_channels, 64, kernel_size=3, stride=1, padding=1, bias=False)
        nn.init.kaiming_normal_(self.conv1.weight, mode="fan_out", nonlinearity="relu")
        self.maxpool = nn.Identity()
        self.switchable: tuple[str, ...] = ("fc",)


def resnet18(in_channels: int = 3, num_classes: int = 10, image_size: int = 32) -> CifarResNet:
    del image_size  # global average pooling: any size works
    return CifarResNet(18, in_channels, num_classes)


def resnet34(in_channels: int = 3, num_classes: int = 10, image_size: int = 32) -> CifarResNet:
    del image_size
    return CifarResNet(34, in_channels, num_classes)
