"""One colour, marker and hatch per method, shared by every figure, the frontier figure and
the DVC plot templates (.dvc/plots/*.json; a test keeps those in step with this table).

The styles are part of the method catalog (`weightswitch.catalog`, where the colour choice is
explained); a method without a colour of its own (one registered later) gets a spare one.
No matplotlib import: the report's tables use it too.
"""

from __future__ import annotations

from collections.abc import Sequence

from weightswitch.catalog import CATALOG, METHOD_STYLE, MethodSpec

__all__ = ["METHOD_STYLE", "method_colors", "method_hatch", "method_line", "method_marker"]

_EXTRA = ("#999999", "#44AA99", "#332288", "#DDCC77")
_OTHER = MethodSpec("other", "dense", "a method outside the catalog")  # the default style


def method_colors(methods: Sequence[str]) -> dict[str, str]:
    """Fixed colours per method so every figure (and the DVC plots) agree."""
    colors = {name: spec.color for name, spec in CATALOG.items() if spec.color}
    extra = sorted(set(methods) - set(colors))
    colors.update({m: _EXTRA[i % len(_EXTRA)] for i, m in enumerate(extra)})
    return colors


def _style(method: str, name: str) -> str:
    return str(getattr(CATALOG.get(method, _OTHER), name))


def method_marker(method: str) -> str:
    return _style(method, "marker")


def method_hatch(method: str) -> str:
    return _style(method, "hatch")


def method_line(method: str) -> str:
    """Line style of a pruning method's frontier curve."""
    return _style(method, "line")
