"""CIFAR-style VGG16 with BatchNorm; features from torchvision, a configurable FC head."""

from __future__ import annotations

import itertools
from collections import OrderedDict

from torch import nn
from torchvision.models.vgg import cfgs, make_layers


def head(in_features: int, width: int, num_classes: int, dropout: float) -> nn.Sequential:
    """in -> width -> width -> classes with ReLU (and Dropout if `dropout` > 0) in between.

    One flat chain, so `export` can drop the outputs of an FC layer whose units the next layer's
    neuron gates switched off.
    """
    layers: OrderedDict[str, nn.Module] = OrderedDict()
    widths = [in_features, width, width, num_classes]
    for i, (fan_in, fan_out) in enumerate(itertools.pairwise(widths), 1):
        layers[f"fc{i}"] = nn.Linear(fan_in, fan_out)
        if i < 3:
            layers[f"relu{i}"] = nn.ReLU(inplace=True)
            if dropout > 0:
                layers[f"drop{i}"] = nn.Dropout(dropout)
    return nn.Sequential(layers)


class VGG16(nn.Module):
    """VGG16-BN for 32x32 inputs: five pools take 32x32 to 1x1x512, then the FC head."""

    def __init__(
        self,
        in_channels: int = 3,
        num_classes: int = 10,
        image_size: int = 32,
        head_width: int = 4096,
        dropout: float = 0.5,
    ) -> None:
        super().__init__()
        del image_size  # adaptive pooling: any size >= 32 works
        self.features = make_layers(cfgs["D"], batch_norm=True)
        if in_channels != 3:
            self.features[0] = nn.Conv2d(in_channels, 64, kernel_size=3, padding=1)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.classifier = head(512, head_width, num_classes, dropout)
        self.switchable: tuple[str, ...] = ("classifier.fc1", "classifier.fc2", "classifier.fc3")
        for m in self.modules():  # torchvision's VGG initialisation
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.01)
                nn.init.zeros_(m.bias)

    def forward(self, x):
        return self.classifier(self.flatten(self.pool(self.features(x))))
