"""Datasets: registry, fetch + verify + prepare, prepared-split loading, batch iterator.

Names are imported on first use so that `weightswitch --help` (which imports `data.cli`)
does not pay for torch and torchvision.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "DATASETS": "registry",
    "DatasetSpec": "registry",
    "Archive": "registry",
    "get_spec": "registry",
    "fetch": "fetch",
    "read_manifest": "manifest",
    "load_split": "splits",
    "BatchIterator": "iterator",
}
__all__ = [  # noqa: RUF022 - grouped by module
    "DATASETS",
    "Archive",
    "DatasetSpec",
    "get_spec",
    "fetch",
    "read_manifest",
    "load_split",
    "BatchIterator",
]

if TYPE_CHECKING:
    from weightswitch.data.fetch import fetch
    from weightswitch.data.iterator import BatchIterator
    from weightswitch.data.manifest import read_manifest
    from weightswitch.data.registry import DATASETS, Archive, DatasetSpec, get_spec
    from weightswitch.data.splits import load_split


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    globals()[name] = value
    return value
