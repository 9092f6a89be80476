"""The one catalog of training methods: every other module reads a method's facts from here.

A method is a name plus what it is (`kind`: dense, switcher or prune), the switcher variant
or pruning criterion it runs, and how figures draw it. The config (valid names, the switcher
fields a variant fixes, the criterion a pruning method uses), the method factory
(`methods.make_method`), the pruning code (`methods.prune.CRITERIA` holds the criterion
functions), the report (which methods a study expects, their order, the frontier's curves and
variants) and the figures' styles all read this table; none writes a method's name down again.

Pure data, no torch or matplotlib: importing it is free, and every layer may (docs/
architecture.md). Adding a method is one `register_method(MethodSpec(...))` call (docs/
extending.md); the names below are views that follow the catalog, so a method registered at
run time is a method everywhere.

Colours: Okabe-Ito (plus Tol's wine for the ninth), chosen so that the five study methods also
differ in grey level (0, 87, 119, 158 and 149 of 255, distinct hue pairs where grey levels are
close); the gate-ranked pruning methods take Paul Tol's muted and bright colours (none of the
spares of `report.style`); every figure adds a second cue (marker shape, line style or bar
hatch), so nothing depends on colour alone. The DVC plot templates (.dvc/plots/*.json) carry
the same colours and shapes in catalog order (a test keeps them in step).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar, overload

KINDS: tuple[str, ...] = ("dense", "switcher", "prune")
SWITCHER_FIELDS: tuple[str, ...] = ("granularity", "gate_net", "snn_input")
# the values of those fields (the switcher's layers and the run config both check these)
GRANULARITIES: tuple[str, ...] = ("connection", "neuron")
GATE_NETS: tuple[str, ...] = ("unet", "free")
SNN_INPUTS: tuple[str, ...] = ("weights", "noise")
# how the switched FC layers start (`models.init_switchable` and the run config both check)
FC_INITS: tuple[str, ...] = ("reference", "pytorch")
# a method name is a run directory's `<method>` part and a DVC stage key
_NAME = re.compile(r"[a-z][a-z0-9]*(?:-[a-z0-9]+)*")
_SEED_SUFFIX = re.compile(r".*-s\d+")


@dataclass(frozen=True)
class MethodSpec:
    """One method.

    `kind` picks the training code: `dense` (plain training), `switcher` (alternating TNN/SNN
    phases; `granularity`, `gate_net` and `snn_input` are the variant's fixed fields) or
    `prune` (prune a finished run of `parent` with `criterion`, a name in
    `methods.prune.CRITERIA`, then fine-tune; `parent` None: a dense run, which the pruning run
    may also train itself). Another kind needs its own `Method` class (`methods.register_kind`).
    `study`: one of the study's methods, which a report expects on every dataset/arch pair
    (the others are ablations and baselines run where a grid asks for them).
    Style: `color` (hex), `marker` (matplotlib), `hatch` (bars), `shape` (Vega-Lite) and,
    for pruning methods, `line` (the frontier curve's line style); None: a spare colour and
    a generic marker."""

    name: str
    kind: str
    description: str
    label: str | None = None  # legends; None: the name
    study: bool = False
    granularity: str | None = None
    gate_net: str | None = None
    snn_input: str | None = None
    criterion: str | None = None
    parent: str | None = None
    allocation: str | None = None  # a pruning method's fixed allocation; None: params decide
    color: str | None = None
    marker: str = "p"
    hatch: str = "**"
    shape: str = "circle"
    line: str = "-."

    def __post_init__(self) -> None:
        if not _NAME.fullmatch(self.name) or _SEED_SUFFIX.fullmatch(self.name):
            raise ValueError(
                f"method name {self.name!r}: lower-case words joined by '-', not ending in "
                "'-s<digits>' (it becomes part of run directory names)"
            )
        if not self.kind or not self.description:
            raise ValueError(f"method {self.name!r} needs a kind and a description")
        variant = [getattr(self, f) for f in SWITCHER_FIELDS]
        if (self.kind == "switcher") != all(v is not None for v in variant) or (
            self.kind != "switcher" and any(v is not None for v in variant)
        ):
            raise ValueError(
                f"method {self.name!r}: {', '.join(SWITCHER_FIELDS)} are set for (and only "
                "for) kind 'switcher'"
            )
        if (self.kind == "prune") != (self.criterion is not None):
            raise ValueError(
                f"method {self.name!r}: a criterion is set for (and only for) kind 'prune'"
            )
        if (self.parent is not None or self.allocation is not None) and self.kind != "prune":
            raise ValueError(
                f"method {self.name!r}: a parent or an allocation is set only for kind 'prune'"
            )

    @property
    def display(self) -> str:
        return self.label or self.name

    @property
    def variant(self) -> dict[str, str]:
        """The switcher fields this method fixes (empty for other kinds)."""
        if self.kind != "switcher":
            return {}
        return {f: str(getattr(self, f)) for f in SWITCHER_FIELDS}


# the connection-gated parents, with the suffix their gate-ranked children's names carry
_GATED: tuple[tuple[str, str], ...] = (
    ("", "switcher"),
    ("-noise", "switcher-noise"),
    ("-free", "free-gates"),
)
_GATED_NET = {"switcher": "switcher's effective network"}  # how a description names a parent
# (colour, marker, hatch, Vega-Lite shape, line) of the ranking by g and by |g·W|, per parent
_GATE_STYLES = (
    (("#4477AA", "h", "/.", "triangle", "-"), ("#AA4499", "H", "\\\\.", "arrow", "--")),
    (
        ("#228833", "8", "+.", "stroke", ":"),
        ("#999933", "*", "x.", "M0,-1L0.87,-0.5L0.87,0.5L0,1L-0.87,0.5L-0.87,-0.5Z", ":"),
    ),
    (
        ("#CC6677", ">", "|.", "M-1,-1L1,-1L-1,1L1,1Z", "-."),
        ("#663333", "x", "-.", "M-1,0L0,-1L1,0L0,1Z", "-."),
    ),
)
# Catalog order is the order of every table, legend and DVC plot domain.
CATALOG: dict[str, MethodSpec] = {
    spec.name: spec
    for spec in (
        MethodSpec(
            "dense",
            "dense",
            "the unpruned network, trained plainly",
            study=True,
            color="#000000",
            marker="o",
            hatch="",
            shape="circle",
        ),
        MethodSpec(
            "switcher",
            "switcher",
            "a switcher network (SNN) gates every FC connection",
            study=True,
            granularity="connection",
            gate_net="unet",
            snn_input="weights",
            color="#0072B2",
            marker="s",
            hatch="//",
            shape="square",
        ),
        MethodSpec(
            "switcher-neuron",
            "switcher",
            "the SNN gates whole input neurons",
            study=True,
            granularity="neuron",
            gate_net="unet",
            snn_input="weights",
            color="#56B4E9",
            marker="D",
            hatch="..",
            shape="diamond",
        ),
        MethodSpec(
            "magnitude",
            "prune",
            "one-shot magnitude pruning, then fine-tuning",
            study=True,
            criterion="magnitude",
            color="#D55E00",
            marker="^",
            hatch="xx",
            shape="triangle-up",
            line="-",
        ),
        MethodSpec(
            "random",
            "prune",
            "random pruning, then fine-tuning",
            study=True,
            criterion="random",
            color="#CC79A7",
            marker="v",
            hatch="\\\\",
            shape="triangle-down",
            line=":",
        ),
        MethodSpec(
            "iterative",
            "prune",
            "magnitude pruning in `steps` rounds, each followed by fine-tuning (Han et al. 2015)",
            criterion="magnitude",
            color="#882255",
            marker="<",
            hatch="--",
            shape="triangle-left",
            line="--",
        ),
        MethodSpec(
            "switcher-noise",
            "switcher",
            "the SNN reads a fixed noise image instead of the weights",
            granularity="connection",
            gate_net="unet",
            snn_input="noise",
            color="#009E73",
            marker="P",
            hatch="++",
            shape="cross",
        ),
        MethodSpec(
            "free-gates",
            "switcher",
            "no SNN: a free learnable score per connection",
            granularity="connection",
            gate_net="free",
            snn_input="weights",
            color="#E69F00",
            marker="X",
            hatch="||",
            shape="triangle-right",
        ),
        MethodSpec(
            "free-gates-neuron",
            "switcher",
            "no SNN: a free learnable score per input neuron",
            granularity="neuron",
            gate_net="free",
            snn_input="weights",
            color="#F0E442",
            marker="d",
            hatch="oo",
            shape="wedge",
        ),
        # gate-ranked pruning (issue 28): a finished connection-gated run's effective network
        # W·G pruned by its gate g or by |g·W|, then fine-tuned like the magnitude frontier
        *(
            MethodSpec(
                f"{criterion}{suffix}",
                "prune",
                f"the {_GATED_NET.get(parent, f'{parent} net')} pruned by {how}, then fine-tuned",
                criterion=criterion,
                parent=parent,
                color=color,
                marker=marker,
                hatch=hatch,
                shape=shape,
                line=line,
            )
            for (suffix, parent), styles in zip(_GATED, _GATE_STYLES, strict=True)
            for (criterion, how), (color, marker, hatch, shape, line) in zip(
                (("gate", "its gate g"), ("gate-weight", "|g·W|")), styles, strict=True
            )
        ),
        # issue 37: the simplest rankings of the same gated net (|W| alone, random), the
        # equal-budget controls (each parent fine-tuned like its children, nothing pruned)
        # and Han et al. 2015's allocation as a second magnitude frontier
        *(
            MethodSpec(
                f"{name}{suffix}",
                "prune",
                f"the {parent} net pruned {how}, then fine-tuned",
                criterion=criterion,
                parent=parent,
                color=color,
                marker=marker,
                line=line,
            )
            for name, how, criterion, marker, line, colors in (
                (
                    "weight-alone",
                    "by |W| alone (its gates ignored)",
                    "weight-alone",
                    "1",
                    "-",
                    ("#77AADD", "#44BB99", "#AAAA00"),
                ),
                ("gate-random", "at random", "random", "2", ":", ("#EE8866", "#BBCC33", "#DDAA33")),
            )
            for (suffix, parent), color in zip(_GATED, colors, strict=True)
        ),
        *(
            MethodSpec(
                f"control{suffix}",
                "prune",
                f"the {parent} run fine-tuned like its "
                "pruned children, nothing pruned (the equal-budget control)",
                criterion="none",
                parent=None if parent == "dense" else parent,
                color=color,
                marker="3",
                line="",
            )
            for (suffix, parent), color in zip(
                (("", "dense"), ("-switcher", "switcher"), *_GATED[1:]),
                ("#555555", "#004488", "#99DDFF", "#FFAABB"),
                strict=True,
            )
        ),
        MethodSpec(
            "magnitude-output-denser",
            "prune",
            "one-shot magnitude pruning with the "
            "output layer kept denser (Han et al. 2015), then fine-tuning",
            criterion="magnitude",
            allocation="output-denser",
            color="#BB5566",
            marker="4",
            line="-",
        ),
    )
}


def register_method(spec: MethodSpec) -> MethodSpec:
    """Add `spec` to the catalog (at the end of the order); a name already there is refused."""
    if spec.name in CATALOG:
        raise ValueError(f"method {spec.name!r} is already in the catalog")
    CATALOG[spec.name] = spec
    return spec


def unregister_method(name: str) -> None:
    """Remove a method registered at run time (tests, notebooks)."""
    CATALOG.pop(name, None)


def get_method(name: str) -> MethodSpec | None:
    return CATALOG.get(name)


T = TypeVar("T")


class Names(Sequence[str]):
    """The names of the catalog's methods that satisfy `keep`, in catalog order, read when
    used (a tuple copy would miss methods registered later). Compares equal to a tuple."""

    def __init__(self, keep: Callable[[MethodSpec], bool]) -> None:
        self._keep = keep

    def _names(self) -> tuple[str, ...]:
        return tuple(n for n, spec in CATALOG.items() if self._keep(spec))

    @overload
    def __getitem__(self, i: int) -> str: ...
    @overload
    def __getitem__(self, i: slice) -> tuple[str, ...]: ...
    def __getitem__(self, i: int | slice) -> str | tuple[str, ...]:
        return self._names()[i]

    def __len__(self) -> int:
        return len(self._names())

    def __iter__(self) -> Iterator[str]:
        return iter(self._names())

    def __contains__(self, name: object) -> bool:
        spec = CATALOG.get(name) if isinstance(name, str) else None
        return spec is not None and self._keep(spec)

    def __eq__(self, other: object) -> bool:
        return self._names() == (tuple(other) if isinstance(other, Sequence) else other)

    def __hash__(self) -> int:
        return hash(self._names())

    def __repr__(self) -> str:
        return repr(self._names())


class Table(Mapping[str, T]):
    """name -> `value(spec)` for the catalog's methods that satisfy `keep`, read when used."""

    def __init__(self, keep: Callable[[MethodSpec], bool], value: Callable[[MethodSpec], T]):
        self._names = Names(keep)
        self._value = value

    def __getitem__(self, name: str) -> T:
        if name not in self._names:
            raise KeyError(name)
        return self._value(CATALOG[name])

    def __len__(self) -> int:
        return len(self._names)

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __repr__(self) -> str:
        return repr(dict(self))


def _kind(kind: str) -> Callable[[MethodSpec], bool]:
    return lambda spec: spec.kind == kind


METHODS = Names(lambda spec: True)
STUDY_METHODS = Names(lambda spec: spec.study)
SWITCHER_METHODS = Names(_kind("switcher"))
PRUNE_METHODS = Names(_kind("prune"))
# what each switcher variant fixes (issue 12's ablations are the switcher with one part
# swapped: the SNN reads a fixed noise image, or no SNN at all, a free score per gate)
SWITCHER_VARIANTS: Table[dict[str, str]] = Table(_kind("switcher"), lambda s: s.variant)
# pruning method -> criterion; `iterative` is magnitude pruning in `steps` rounds
PRUNE_CRITERIA: Table[str] = Table(_kind("prune"), lambda s: str(s.criterion))
# pruning method -> the method of the finished run it prunes (`--init-from`): dense, or the
# connection-gated run whose gates rank the connections
PRUNE_PARENTS: Table[str] = Table(_kind("prune"), lambda s: s.parent or "dense")
# pruning method -> the allocation it fixes (only the methods that fix one)
PRUNE_ALLOCATIONS: Table[str] = Table(
    lambda s: s.kind == "prune" and s.allocation is not None, lambda s: str(s.allocation)
)
# method: (colour or None, matplotlib marker, bar hatch, Vega-Lite shape)
METHOD_STYLE: Table[tuple[str | None, str, str, str]] = Table(
    lambda spec: True, lambda s: (s.color, s.marker, s.hatch, s.shape)
)


def method_order(methods: Sequence[str] | Mapping[str, object]) -> list[str]:
    """Catalog methods first, in catalog order, then any others alphabetically."""
    present = set(methods)
    return [m for m in METHODS if m in present] + sorted(present - set(METHODS))
