"""Model zoo: LeNet-300-100, LeNet-5, ResNet18/34, VGG16-BN, MobileNet v1.

Every model names the FC layers the study switches in `model.switchable` (docs/design.md,
"What is switched").
"""

from weightswitch.models.registry import (
    ARCHS,
    Arch,
    build_model,
    get_arch,
    list_archs,
    switchable_names,
)

__all__ = ["ARCHS", "Arch", "build_model", "get_arch", "list_archs", "switchable_names"]
