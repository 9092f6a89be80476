"""Training methods: dense, switcher (alternating phases) and its ablations, magnitude /
iterative magnitude / random pruning.

Each method is a `Method` (a loop callback with setup/restore/export hooks); the loop in
`weightswitch.train` runs any of them the same way. What a method reads and writes, the loop's
`TrainState`, and the optimiser/schedule builders live here too (`methods.state`,
`methods.optim`): a method imports nothing from `train`. Which class runs a method follows from
its `kind` in `weightswitch.catalog`: one class per kind, so a new switcher variant or
pruning method is a catalog entry (and, for pruning, a criterion in `methods.prune`), and
only a new kind of training needs a class of its own (`register_kind`; docs/extending.md).
"""

from __future__ import annotations

from collections.abc import Callable

from weightswitch.catalog import METHODS, get_method
from weightswitch.config import RunConfig
from weightswitch.errors import UsageError, unknown_choice
from weightswitch.methods.base import Method
from weightswitch.methods.state import Callback, TrainState

# kind -> a function that returns the Method class (imported only when a run needs it)
_KINDS: dict[str, Callable[[], type[Method]]] = {}


def register_kind(kind: str, method_class: type[Method]) -> None:
    """Run every catalog method of `kind` with `method_class` (a `Method` subclass)."""
    _KINDS[kind] = lambda: method_class


def _dense() -> type[Method]:
    from weightswitch.methods.dense import DenseMethod

    return DenseMethod


def _switcher() -> type[Method]:
    from weightswitch.methods.switcher import SwitcherMethod

    return SwitcherMethod


def _prune() -> type[Method]:
    from weightswitch.methods.prune import PruneMethod

    return PruneMethod


_KINDS.update(dense=_dense, switcher=_switcher, prune=_prune)


def method_class(name: str) -> type[Method]:
    """The `Method` class that runs the catalog method `name`."""
    spec = get_method(name)
    if spec is None:
        raise unknown_choice("method", name, METHODS)
    if spec.kind not in _KINDS:
        raise UsageError(
            f"method {name!r} is of kind {spec.kind!r}, which no Method class runs; "
            f"kinds: {', '.join(_KINDS)} (methods.register_kind adds one)"
        )
    return _KINDS[spec.kind]()


def make_method(cfg: RunConfig) -> Method:
    return method_class(cfg.method)(cfg)


__all__ = ["Callback", "Method", "TrainState", "make_method", "method_class", "register_kind"]
