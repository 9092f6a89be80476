"""The import layering of docs/architecture.md ("Layers") is true: every import of every
module under src/weightswitch, read with `ast` (imports inside functions included, imports
under `if TYPE_CHECKING:` left out), goes to the importer's own layer or a lower one, never
in a circle, and inside a package follows the documented order. The tables are read from the
document itself, so the document and the code cannot drift apart. No exception is allowed."""

from __future__ import annotations

import ast
import re
from functools import cache
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[1]
SRC = PROJECT / "src"
DOC = PROJECT / "docs" / "architecture.md"
ROOT = "weightswitch"


# ------------------------------------------------------------------------- the document


def _section(heading: str) -> list[list[str]]:
    """The rows (cells) of the first Markdown table after `heading` in the document."""
    lines = DOC.read_text(encoding="utf-8").splitlines()
    start = lines.index(heading)
    rows, seen = [], False
    for line in lines[start + 1 :]:
        if line.startswith("|"):
            seen = True
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if not set("".join(cells)) <= set("- ") and cells[0] not in ("layer", "package"):
                rows.append(cells)
        elif seen:
            break
    assert rows, f"no table after {heading!r} in {DOC}"
    return rows


def _names(cell: str) -> list[str]:
    return re.findall(r"`([^`]+)`", cell)


@cache
def layers() -> dict[str, int]:
    """Documented module prefix (relative to weightswitch) -> layer."""
    return {name: int(row[0]) for row in _section("## Layers") for name in _names(row[1])}


@cache
def package_orders() -> dict[str, dict[str, int]]:
    """package -> {module of the package: level}, lowest level 0."""
    out = {}
    for package, order in _section("### Order inside a package"):
        (name,) = _names(package)
        levels = {}
        for level, group in enumerate(order.split("<")):
            for module in _names(group):
                full = f"{ROOT}.{name}" if module == "__init__" else f"{ROOT}.{name}.{module}"
                levels[full] = level
        out[f"{ROOT}.{name}"] = levels
    return out


def layer_of(module: str) -> int | None:
    rel = module.removeprefix(f"{ROOT}.")
    best = max((p for p in layers() if rel == p or rel.startswith(p + ".")), key=len, default=None)
    return None if best is None else layers()[best]


# ---------------------------------------------------------------------------- the code


@cache
def modules() -> dict[str, Path]:
    found = {}
    for path in sorted((SRC / ROOT).rglob("*.py")):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _resolve(name: str) -> str:
    """The module `name` refers to: itself, or the package it is an attribute of."""
    while name not in modules():
        name = name.rpartition(".")[0]
    return name


def _type_checking(node: ast.If) -> bool:
    test = node.test
    return getattr(test, "id", None) == "TYPE_CHECKING" or getattr(test, "attr", None) == (
        "TYPE_CHECKING"
    )


def imports_of(module: str) -> set[str]:
    """The weightswitch modules `module` imports, at any depth of its code."""
    path = modules()[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _type_checking(child):
                for other in child.orelse:
                    visit(ast.Module(body=[other], type_ignores=[]))
                continue
            if isinstance(child, ast.Import):
                found.update(_resolve(a.name) for a in child.names if a.name.split(".")[0] == ROOT)
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:  # relative: from the package, `level - 1` folders up
                    parts = package.split(".")[: len(package.split(".")) - child.level + 1]
                    base = ".".join([*parts, *([child.module] if child.module else [])])
                if base.split(".")[0] == ROOT:
                    for alias in child.names:
                        sub = f"{base}.{alias.name}"
                        found.add(sub if sub in modules() else _resolve(base))
            visit(child)

    visit(ast.parse(path.read_text(encoding="utf-8"), str(path)))
    found.discard(module)
    return found


@cache
def edges() -> set[tuple[str, str]]:
    return {(m, target) for m in modules() for target in imports_of(m)}


# ---------------------------------------------------------------------------- the tests


def test_the_document_names_every_module_and_nothing_else() -> None:
    unplaced = [m for m in modules() if m != ROOT and layer_of(m) is None]
    assert not unplaced, f"modules in no layer of {DOC.name} ('## Layers'): add {unplaced}"
    stale = [
        p
        for p in layers()
        if not any(m == f"{ROOT}.{p}" or m.startswith(f"{ROOT}.{p}.") for m in modules())
    ]
    assert not stale, f"{DOC.name} names modules that do not exist: {stale}"
    for package, levels in package_orders().items():
        mine = {m for m in modules() if m == package or m.startswith(package + ".")}
        assert set(levels) == mine, (
            f"{DOC.name}, 'Order inside a package', {package}: add {sorted(mine - set(levels))}, "
            f"remove {sorted(set(levels) - mine)}"
        )


def test_imports_go_down_the_layers() -> None:
    upward = sorted(
        f"{a} (layer {layer_of(a)}) imports {b} (layer {layer_of(b)})"
        for a, b in edges()
        if b != ROOT and layer_of(b) > layer_of(a)  # type: ignore[operator]
    )
    assert not upward, "\n".join(upward)


def test_imports_follow_the_order_inside_a_package() -> None:
    wrong = sorted(
        f"{a} (level {levels[a]}) imports {b} (level {levels[b]})"
        for levels in package_orders().values()
        for a, b in edges()
        if a in levels and b in levels and levels[b] > levels[a]
    )
    assert not wrong, "\n".join(wrong)


def _cycles() -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    graph: dict[str, list[str]] = {m: [] for m in modules()}
    for a, b in edges():
        graph[a].append(b)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found = []

    def connect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in graph:
        if v not in index:
            connect(v)
    return found


def test_no_import_circles() -> None:
    assert _cycles() == []


@pytest.mark.parametrize(
    ("importer", "imported"),
    [
        ("weightswitch.report.frontier", "weightswitch.report.build"),
        ("weightswitch.switcher.speed", "weightswitch.switcher.attach"),
    ],
)
def test_the_two_circles_of_issue_29_stay_broken(importer: str, imported: str) -> None:
    assert imported not in imports_of(importer)


def test_methods_and_rundir_do_not_import_train() -> None:
    """The former exceptions (methods.base, methods.switcher, methods.prune and rundir
    imported train.callbacks / optim / metrics / checkpoint) stay gone: what they shared with
    the loop now lives below them (docs/architecture.md, "No exceptions")."""
    low = [m for m in modules() if m.startswith(f"{ROOT}.methods") or m == f"{ROOT}.rundir"]
    bad = sorted((a, b) for a in low for b in imports_of(a) if b.startswith(f"{ROOT}.train"))
    assert not bad


def test_catalog_is_torch_free_data() -> None:
    """The catalog imports nothing: every layer may read it."""
    tree = ast.parse(modules()[f"{ROOT}.catalog"].read_text(encoding="utf-8"))
    imported = {
        a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names
    }
    imported |= {
        n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module
    }
    assert imported <= {"__future__", "re", "collections", "dataclasses", "typing"}


# ---------------------------------------------------------------------------- the measure


def measure() -> str:
    """The measured layers as a Markdown table (docs/architecture.md, "Measured"): modules,
    lines, the largest module and the imports of each layer, read from the code as the tests
    read it. Run `python tests/test_layering.py` to print it."""
    rows = ["| layer | modules | lines | largest module (lines) | imports: same layer / down |"]
    rows.append("| --- | --- | --- | --- | --- |")
    placed = {m: layer_of(m) for m in modules() if m != ROOT}
    for layer in sorted(set(placed.values())):  # type: ignore[type-var]
        mine = sorted(m for m, n in placed.items() if n == layer)
        size = {m: len(modules()[m].read_text(encoding="utf-8").splitlines()) for m in mine}
        largest = max(mine, key=lambda m: size[m])
        out = [(a, b) for a, b in edges() if a in mine and b != ROOT]
        same = sum(layer_of(b) == layer for _, b in out)
        rows.append(
            f"| {layer} | {len(mine)} | {sum(size.values())} | "
            f"`{largest.removeprefix(ROOT + '.')}` ({size[largest]}) | {same} / {len(out) - same} |"
        )
    up = sum(1 for a, b in edges() if b != ROOT and layer_of(b) > layer_of(a))  # type: ignore[operator]
    rows.append("")
    rows.append(f"Imports up a layer: {up}; import circles: {len(_cycles())}.")
    return "\n".join(rows)


if __name__ == "__main__":
    print(measure())
