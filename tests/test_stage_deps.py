"""Training stages depend on their data, their params and the numerics version of the code
(src/weightswitch/numerics.py), never on source folders: an edit to a progress line must not
invalidate hours of training, and an edit that can change a number bumps a component that
invalidates exactly the stages whose methods use it (the golden runs guard the boundary)."""

from __future__ import annotations

from pathlib import Path

import yaml

from weightswitch import numerics

PROJECT = Path(__file__).resolve().parents[1]
NUMERICS = "src/weightswitch/numerics.py"
# stage -> the methods its matrix may run (the `ablations` / `frontier` params pick among them)
STAGE_METHODS = {
    "train": ("dense", "switcher", "switcher-neuron"),
    "prune": ("magnitude", "iterative", "random"),
    "ablate": ("switcher-noise", "free-gates", "free-gates-neuron"),
    "frontier": ("magnitude", "iterative", "random"),
    "gate-frontier": (
        "gate",
        "gate-weight",
        "gate-noise",
        "gate-weight-noise",
        "gate-free",
        "gate-weight-free",
    ),
}


def _stages() -> dict:
    return yaml.safe_load((PROJECT / "dvc.yaml").read_text())["stages"]


def _numerics_params(stage: dict) -> list[str]:
    for entry in stage.get("params", []):
        if isinstance(entry, dict) and NUMERICS in entry:
            return list(entry[NUMERICS])
    return []


def test_training_stages_depend_on_numerics_not_on_source() -> None:
    stages = _stages()
    for name, methods in STAGE_METHODS.items():
        stage = stages[name]
        src = [d for d in stage.get("deps", []) if str(d).startswith("src/")]
        assert not src, f"stage {name!r} depends on source {src}: use the numerics version"
        needed = sorted({c for m in methods for c in numerics.components(m)})
        assert sorted(_numerics_params(stage)) == needed, name


def test_fetch_and_report_are_versioned_too() -> None:
    stages = _stages()
    assert _numerics_params(stages["fetch"]["do"]) == ["DATA"]
    assert _numerics_params(stages["report"]) == ["REPORT"]
    assert not [d for d in stages["report"]["deps"] if str(d).startswith("src/")]


def test_numerics_file_is_plain_integer_constants_dvc_can_read() -> None:
    """DVC reads a .py params file's top-level constants; each component is an int >= 1."""
    import ast

    tree = ast.parse((PROJECT / NUMERICS).read_text())
    constants = {
        t.id: node.value.value
        for node in tree.body
        if isinstance(node, ast.Assign)
        for t in node.targets
        if isinstance(t, ast.Name) and isinstance(node.value, ast.Constant)
    }
    assert set(constants) == {"DATA", "CORE", "SWITCHER", "PRUNE", "REPORT"}
    assert all(isinstance(v, int) and v >= 1 for v in constants.values())


def test_gate_frontier_parents_are_the_catalogs() -> None:
    """Every profile's `frontier.gate_methods` names a gate-ranked method and the catalog's
    parent of it (dvc.yaml cannot look the parent up, so the params carry it; the train CLI
    refuses a wrong parent only when the stage runs)."""
    from weightswitch.catalog import PRUNE_PARENTS
    from weightswitch.params_cli import default_params

    for profile in sorted(p.stem for p in (PROJECT / "conf" / "profile").glob("*.yaml")):
        params = default_params(PROJECT / "conf", profile=profile)
        for entry in params["frontier"]["gate_methods"]:
            assert set(entry) == {"name", "parent"}, (profile, entry)
            assert entry["name"] in PRUNE_PARENTS, (profile, entry)
            assert PRUNE_PARENTS[entry["name"]] == entry["parent"] != "dense", (profile, entry)
