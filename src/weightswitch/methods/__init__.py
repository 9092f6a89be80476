"""Training methods: dense, switcher (alternating phases) and its ablations, magnitude /
iterative magnitude / random pruning.

Each method is a `Method` (a loop callback with setup/restore/export hooks); the loop in
`weightswitch.train` runs any of them the same way.
"""

from __future__ import annotations

from weightswitch.config import METHODS, PRUNE_METHODS, SWITCHER_METHODS, RunConfig
from weightswitch.errors import unknown_choice
from weightswitch.methods.base import Method


def make_method(cfg: RunConfig) -> Method:
    from weightswitch.methods.dense import DenseMethod
    from weightswitch.methods.prune import PruneMethod
    from weightswitch.methods.switcher import SwitcherMethod

    classes: dict[str, type[Method]] = {
        "dense": DenseMethod,
        **dict.fromkeys(SWITCHER_METHODS, SwitcherMethod),
        **dict.fromkeys(PRUNE_METHODS, PruneMethod),
    }
    if cfg.method not in classes:
        raise unknown_choice("method", cfg.method, METHODS)
    return classes[cfg.method](cfg)


__all__ = ["Method", "make_method"]
