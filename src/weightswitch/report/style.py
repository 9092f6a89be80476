"""One colour, marker and hatch per method, shared by every figure, the frontier figure and
the DVC plot templates (.dvc/plots/*.json; a test keeps those in step with this table).

Okabe-Ito colours (plus Tol's wine for the ninth), chosen so that the five study methods also
differ in grey level (0, 87, 119, 158 and 149 of 255, distinct hue pairs where grey levels
are close); every figure adds a second cue (marker shape, line style or bar hatch), so
nothing depends on colour alone. No matplotlib import: the report's tables use it too.
"""

from __future__ import annotations

from collections.abc import Sequence

# method: (colour, matplotlib marker, bar hatch, Vega-Lite shape)
METHOD_STYLE: dict[str, tuple[str, str, str, str]] = {
    "dense": ("#000000", "o", "", "circle"),
    "switcher": ("#0072B2", "s", "//", "square"),
    "switcher-neuron": ("#56B4E9", "D", "..", "diamond"),
    "magnitude": ("#D55E00", "^", "xx", "triangle-up"),
    "random": ("#CC79A7", "v", "\\\\", "triangle-down"),
    "iterative": ("#882255", "<", "--", "triangle-left"),
    "switcher-noise": ("#009E73", "P", "++", "cross"),
    "free-gates": ("#E69F00", "X", "||", "triangle-right"),
    "free-gates-neuron": ("#F0E442", "d", "oo", "wedge"),
}
_EXTRA = ("#999999", "#44AA99", "#332288", "#DDCC77")


def method_colors(methods: Sequence[str]) -> dict[str, str]:
    """Fixed colours per method so every figure (and the DVC plots) agree."""
    extra = sorted(set(methods) - set(METHOD_STYLE))
    colors = {m: style[0] for m, style in METHOD_STYLE.items()}
    colors.update({m: _EXTRA[i % len(_EXTRA)] for i, m in enumerate(extra)})
    return colors


def method_marker(method: str) -> str:
    return METHOD_STYLE.get(method, ("", "p", "", ""))[1]


def method_hatch(method: str) -> str:
    return METHOD_STYLE.get(method, ("", "", "**", ""))[2]
