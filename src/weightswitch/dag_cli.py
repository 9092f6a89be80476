"""`weightswitch dag`: the pipeline as a diagram of stage kinds, not of stages.

`dvc dag` draws every stage (110 on the default grid, hundreds of columns wide). This reads
the same graph from DVC (`dvc.yaml` resolved with `params.yaml`) and collapses it by kind
(`train@model0-dense-0` -> `train`): one box per kind with its stage count and what it
iterates over, one arrow per dependency between kinds. Mermaid, so README shows it drawn.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from weightswitch.errors import UsageError
from weightswitch.options import add_options, option, read_options

HIDDEN_AXES = ("model", "seed")  # counted, not listed


@dataclass(frozen=True)
class DagOptions:
    """`dag`'s options."""

    root: str = option("project folder (default: .)", default=".")
    summary: bool = option("one line: stages per kind", default=False)


def _values(axis: Any, params: dict[str, Any]) -> list[Any]:
    """A matrix axis' values: a literal list or a `${dotted.key}` of params.yaml."""
    if isinstance(axis, list):
        return axis
    if isinstance(axis, str) and axis.startswith("${") and axis.endswith("}"):
        node: Any = params
        for part in axis[2:-1].split("."):
            node = node.get(part) if isinstance(node, dict) else None
        return node if isinstance(node, list) else []
    return []


def _label(kind: str, count: int, stage: dict[str, Any], params: dict[str, Any]) -> str:
    lines = [f"{kind} × {count}"]
    if "foreach" in stage:
        lines.append("per " + ", ".join(map(str, _values(stage["foreach"], params))))
    matrix = stage.get("matrix") or {}
    for axis, spec in matrix.items():
        if axis not in HIDDEN_AXES:
            shown = ", ".join(str(v) for v in _values(spec, params))
            lines.append(f"{shown} ({axis})" if axis != "method" else shown)
    hidden = [f"{len(_values(matrix[a], params))} {a}s" for a in HIDDEN_AXES if a in matrix]
    if hidden:
        lines.append(" × ".join(hidden))
    return "<br/>".join(lines)


def kind_graph(root: Path) -> tuple[dict[str, int], set[tuple[str, str]]]:
    """Stage count per kind and the (upstream, downstream) edges between kinds."""
    from dvc.exceptions import DvcException
    from dvc.repo import Repo

    try:
        with Repo(str(root)) as repo:
            graph = repo.index.graph
    except DvcException as exc:
        raise UsageError(f"cannot read the pipeline in {root}: {exc}") from None

    def kind(stage: Any) -> str:  # `train@model0-dense-0` -> `train`
        return str(getattr(stage, "name", None) or stage.addressing).split("@")[0]

    counts: dict[str, int] = {}
    for stage in graph.nodes:
        counts[kind(stage)] = counts.get(kind(stage), 0) + 1
    edges = set()
    for dependent, dependency in graph.edges:  # DVC's edges point at what a stage needs
        if kind(dependency) != kind(dependent):
            edges.add((kind(dependency), kind(dependent)))
    return counts, edges


def mermaid(root: Path) -> str:
    """The stage-kind diagram of the project at `root`, on its params.yaml."""
    import yaml

    counts, edges = kind_graph(root)
    stages = yaml.safe_load((root / "dvc.yaml").read_text(encoding="utf-8"))["stages"]
    params = yaml.safe_load((root / "params.yaml").read_text(encoding="utf-8")) or {}
    pair = f"{params.get('grid')} x {params.get('profile')}"
    total = sum(counts.values())
    out = [
        f"%% weightswitch dag: {total} stages on {pair} (dvc.yaml + params.yaml)",
        "flowchart LR",
    ]
    for kind in stages:  # dvc.yaml's order: fetch, train, prune, ablate, frontier, report
        if kind in counts:
            out.append(f'  {kind}["{_label(kind, counts[kind], stages[kind], params)}"]')
    order = list(stages)
    for a, b in sorted(edges, key=lambda e: (order.index(e[0]), order.index(e[1]))):
        out.append(f"  {a} --> {b}")
    return "\n".join(out) + "\n"


def run(args: argparse.Namespace) -> int:
    options = read_options(args, DagOptions)
    root = Path(options.root)
    if not (root / "dvc.yaml").is_file() or not (root / "params.yaml").is_file():
        raise UsageError(f"no dvc.yaml and params.yaml in {root}: run it in the project root")
    if options.summary:
        counts, _ = kind_graph(root)
        import yaml

        params = yaml.safe_load((root / "params.yaml").read_text(encoding="utf-8")) or {}
        kinds = ", ".join(f"{n} {kind}" for kind, n in counts.items())
        print(
            f"{sum(counts.values())} stages on {params.get('grid')} x {params.get('profile')}"
            f" ({kinds})"
        )
        return 0
    print(mermaid(root), end="")
    return 0


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "dag",
        help="the pipeline as a diagram of stage kinds (Mermaid), not of every stage",
        description=__doc__.splitlines()[0].split(": ", 1)[1] if __doc__ else None,
    )
    add_options(p, DagOptions)
    p.set_defaults(func=run)
    return p
