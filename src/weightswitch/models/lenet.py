"""LeNet-300-100 and LeNet-5 for the MNIST family (Han et al. 2015 sizes)."""

from __future__ import annotations

import itertools
from collections import OrderedDict
from collections.abc import Sequence

from torch import nn


class LeNet300(nn.Sequential):
    """784-300-100-10 MLP with ReLU.

    A flat `nn.Sequential` on purpose: the FC layers form one chain, so `export` can remove
    the outputs of `fc1` whose units `fc2`'s neuron gates switched off (and so on).
    """

    def __init__(
        self,
        in_channels: int = 1,
        num_classes: int = 10,
        image_size: int = 28,
        hidden: Sequence[int] = (300, 100),
    ) -> None:
        widths = [in_channels * image_size * image_size, *hidden, num_classes]
        layers: OrderedDict[str, nn.Module] = OrderedDict(flatten=nn.Flatten())
        for i, (fan_in, fan_out) in enumerate(itertools.pairwise(widths), 1):
            layers[f"fc{i}"] = nn.Linear(fan_in, fan_out)
            if i < len(widths) - 1:
                layers[f"relu{i}"] = nn.ReLU(inplace=True)
        super().__init__(layers)
        self.switchable: tuple[str, ...] = tuple(f"fc{i}" for i in range(1, len(widths)))


class LeNet5(nn.Module):
    """LeNet-5 (Caffe sizes): conv 20 and 50 (5x5, ReLU, 2x2 max-pool each), FC 800-500-classes.

    Unlike Caffe's prototxt the convs are followed by ReLU, as in common PyTorch ports.
    """

    def __init__(
        self, in_channels: int = 1, num_classes: int = 10, image_size: int = 28, hidden: int = 500
    ) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 20, 5),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
            nn.Conv2d(20, 50, 5),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
        )
        side = ((image_size - 4) // 2 - 4) // 2
        if side < 1:
            raise ValueError(f"LeNet5 needs images of at least 16x16, got {image_size}")
        self.classifier = nn.Sequential(
            OrderedDict(
                flatten=nn.Flatten(),
                fc1=nn.Linear(50 * side * side, hidden),
                relu1=nn.ReLU(inplace=True),
                fc2=nn.Linear(hidden, num_classes),
            )
        )
        self.switchable: tuple[str, ...] = ("classifier.fc1", "classifier.fc2")

    def forward(self, x):
        return self.classifier(self.features(x))
