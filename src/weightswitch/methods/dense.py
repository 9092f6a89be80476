"""`dense`: the baseline, same architecture and budget, no switcher."""

from __future__ import annotations

from weightswitch.methods.base import Method


class DenseMethod(Method):
    name = "dense"
