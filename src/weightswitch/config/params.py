"""Params files: reading one strictly, composing one from conf/, and setting its dotted keys.

Params file layout (what `dvc.yaml` passes with `--params params.yaml`)::

    profile: quick
    data: {root: data}
    recipe: {epochs: 4, batch_size: 64, optimizer: {...}, schedule: {...}}
    archs: {vgg16: {batch_size: 128, head_width: 512}}
    methods: {switcher: {granularity: connection, ...}, magnitude: {finetune_epochs: 2}}

A params file is strict: an unknown or misspelled key anywhere, or a required key missing, is
a one-line UsageError naming the key, its place, the valid keys and the closest match (a typo
must never train with built-in defaults). conf/ is composed with DVC's own Hydra code, so the
params of a bare `weightswitch train` are exactly what `dvc exp run` writes.
"""

from __future__ import annotations

import copy
import os
import re
import tempfile
import typing
from pathlib import Path
from typing import Any

from weightswitch.catalog import (
    METHODS,
    PRUNE_ALLOCATIONS,
    PRUNE_CRITERIA,
    PRUNE_METHODS,
    PRUNE_PARENTS,
    SWITCHER_METHODS,
)
from weightswitch.config.schema import (
    PRUNE_KEYS,
    SECTION_KEYS,
    SWITCHER_KEYS,
    PruneConfig,
    RunConfig,
    SwitcherConfig,
    field_names,
)
from weightswitch.config.tree import closest, did_you_mean, set_dotted, unknown_key
from weightswitch.errors import UsageError, unknown_choice, yaml_error_text

# Top-level keys of a params file; the pipeline's keys (grid, datasets, models, seeds) are
# read by dvc.yaml and the report, not by a run.
PARAMS_KEYS: tuple[str, ...] = (
    "profile",
    "grid",
    "datasets",
    "models",
    "seeds",
    "data",
    "recipe",
    "archs",
    "methods",
    "train_methods",
    "prune_methods",
    "ablations",
    "frontier",
)
# Those that hold settings (`recipe.epochs`, `archs.lenet5.epochs`, `seeds`, ...): the keys
# both `weightswitch params KEY=VALUE` and `weightswitch train --set KEY=VALUE` take.
PARAMS_HEADS: tuple[str, ...] = (
    "recipe",
    "archs",
    "methods",
    "data",
    "seeds",
    "datasets",
    "models",
    "ablations",
    "frontier",
)
FRONTIER_KEYS: tuple[str, ...] = ("methods", "sparsity", "gate_methods", "controls")
DATA_KEYS: tuple[str, ...] = ("root", "val_size")
# Keys a params file must give: the built-in default of these is never what a profile means.
REQUIRED_PARAMS: tuple[str, ...] = ("recipe", "recipe.epochs")


# ----------------------------------------------------------------------- reading one


def load_params(path: str | Path) -> dict[str, Any]:
    """Read a params YAML file into a dict (one-line UsageError if unreadable or not valid)."""
    import yaml

    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UsageError(f"cannot read params file {path}: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        raise UsageError(f"params file {path} is not valid YAML: {yaml_error_text(exc)}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise UsageError(f"params file {path} must hold a mapping at the top level")
    check_params(data, str(path))
    return data


def _dataclass_of(tp: Any) -> Any:
    """The dataclass a field holds (also inside `X | None`), else None."""
    import dataclasses

    return next((t for t in (tp, *typing.get_args(tp)) if dataclasses.is_dataclass(t)), None)


def _check_mapping(data: Any, valid: Any, where: str, types: dict[str, Any]) -> None:
    """Every key of `data` is in `valid`; mappings that become dataclasses, recursively."""
    if data is None:
        return
    if not isinstance(data, dict):
        raise UsageError(f"{where} must be a mapping, got {data!r}")
    for key, value in data.items():
        if key not in valid:
            raise UsageError(unknown_key(key, valid, where))
        cls = _dataclass_of(types.get(key))
        if cls is not None:
            _check_mapping(value, field_names(cls), f"{where}.{key}", typing.get_type_hints(cls))


def _section_keys(table: str, name: str) -> set[str]:
    """Keys of archs.<arch> (plus the arch's model options) or methods.<method> (only the
    keys that apply to that method)."""
    valid = set(SECTION_KEYS)
    if table == "archs":
        from weightswitch.models.registry import arch_options  # the models know their options

        return valid | set(arch_options(name))
    if name not in SWITCHER_METHODS:
        valid -= SWITCHER_KEYS | {"switcher"}
    if name not in PRUNE_METHODS:
        valid -= PRUNE_KEYS | {"prune"}
    return valid


def _check_required(params: dict[str, Any]) -> None:
    for dotted in REQUIRED_PARAMS:
        *parents, last = dotted.split(".")
        node: Any = params
        for part in parents:
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, dict) and last in node:
            continue
        present = [str(k) for k in node] if isinstance(node, dict) else []
        raise UsageError(
            f"missing required key {dotted!r} in {'.'.join(parents) or 'the top level'}; "
            f"keys there: {', '.join(sorted(present)) or '(none)'}" + did_you_mean(last, present)
        )


def check_params(params: dict[str, Any], source: str = "params") -> None:
    """Raise a one-line UsageError for the first unknown, misplaced or missing key."""
    from weightswitch.models.registry import ARCHS

    types = {
        **typing.get_type_hints(RunConfig),
        **typing.get_type_hints(SwitcherConfig),
        **typing.get_type_hints(PruneConfig),
    }
    try:
        _check_mapping(params, PARAMS_KEYS, "the top level", {})
        _check_mapping(params.get("data"), DATA_KEYS, "data", {})
        _check_mapping(params.get("frontier"), FRONTIER_KEYS, "frontier", {})
        _check_stage_methods(params)
        for key in ("gate_methods", "controls"):
            _check_parent_entries(key, (params.get("frontier") or {}).get(key) or [])
        _check_mapping(params.get("recipe"), SECTION_KEYS, "recipe", types)
        for table, names in (("archs", ARCHS), ("methods", METHODS)):
            _check_mapping(params.get(table), names, table, {})
            for name, section in (params.get(table) or {}).items():
                _check_mapping(section, _section_keys(table, name), f"{table}.{name}", types)
        _check_required(params)
    except UsageError as exc:
        raise UsageError(f"{source}: {exc}") from None


def _check_stage_methods(params: dict[str, Any]) -> None:
    """`train_methods` (stage train@: dense or switcher-kind methods) and `prune_methods`
    (stage prune@: pruning methods of a dense parent, matched to the switcher's sparsity)."""
    kinds = {
        "train_methods": lambda m: m in SWITCHER_METHODS or m == "dense",
        "prune_methods": lambda m: (
            m in PRUNE_METHODS and PRUNE_CRITERIA[m] != "none" and m not in PRUNE_ALLOCATIONS
        ),
    }
    for key, fits in kinds.items():
        names = params.get(key)
        if names is None:
            continue
        valid = sorted(m for m in METHODS if fits(m) and PRUNE_PARENTS.get(m, "dense") == "dense")
        bad = [m for m in (names if isinstance(names, list) else [names]) if m not in valid]
        if bad or not isinstance(names, list):
            raise UsageError(f"{key}: {bad or names!r} not allowed; a list of {', '.join(valid)}")


def _check_parent_entries(key: str, entries: Any) -> None:
    """`frontier.gate_methods` / `frontier.controls`: a list of {name, parent}, name a
    gate-ranked pruning method (or an equal-budget control, criterion none) and parent its
    catalog parent (dvc.yaml's gate-frontier@ and control@ stages read the parent from here)."""
    controls = key == "controls"
    valid = sorted(
        m
        for m, parent in PRUNE_PARENTS.items()
        if (PRUNE_CRITERIA[m] == "none") == controls and (controls or parent != "dense")
    )
    for entry in entries if isinstance(entries, list) else [entries]:
        name = entry.get("name") if isinstance(entry, dict) else None
        if name not in valid or set(entry) != {"name", "parent"}:
            raise UsageError(
                f"frontier.{key}: {entry!r} is not {{name: M, parent: P}} "
                f"with M one of {', '.join(valid)}"
            )
        if entry["parent"] != PRUNE_PARENTS[name]:
            raise UsageError(
                f"frontier.{key}: {name} prunes a {PRUNE_PARENTS[name]} "
                f"run, not {entry['parent']!r}"
            )


# ----------------------------------------------------------------- setting dotted keys


def check_key(params: dict[str, Any], dotted: str, value: Any) -> bool:
    """Whether params file key `dotted` exists in `params` (False: absent but valid there);
    a one-line UsageError with the closest valid key when a params file may not hold it."""
    node: Any = params
    parts = dotted.split(".")
    for i, part in enumerate(parts):
        if isinstance(node, dict) and part in node:
            node = node[part]
            continue
        probe = copy.deepcopy(params)
        set_dotted(probe, dotted, value)
        try:
            check_params(probe, "params")
        except UsageError as exc:
            close = re.search(r"did you mean '([^']+)'\?", str(exc))
            if close is None:
                raise UsageError(str(exc).removeprefix("params: ")) from None
            better = ".".join([*parts[:i], close.group(1), *parts[i + 1 :]])
            raise UsageError(f"unknown key {dotted!r}; did you mean {better!r}?") from None
        return False
    return True


def apply_overrides(params: dict[str, Any], items: dict[str, Any]) -> dict[str, Any]:
    """`params` with dotted params-file keys set (`recipe.train_limit: None` unsets it)."""
    out = copy.deepcopy(params)
    for dotted, value in items.items():
        check_key(out, dotted, value)
        set_dotted(out, dotted, value)
    return out


# -------------------------------------------------------------------- composing conf/


def group_choices(conf_dir: Path, group: str) -> list[str]:
    """Names of the configs in one Hydra group folder (conf/<group>/*.yaml)."""
    return sorted(p.stem for p in (conf_dir / group).glob("*.yaml"))


def check_group(conf_dir: Path, group: str, name: str) -> None:
    """`name` is a config of group `group` (conf/<group>/<name>.yaml), else a one-line error."""
    valid = group_choices(conf_dir, group)
    if name not in valid:
        raise unknown_choice(group, name, valid)


def find_conf_dir() -> Path:
    """conf/ of the project the CWD is in, else of the checkout this code runs from."""
    from weightswitch.provenance import project_root, source_root

    for root in (project_root(), source_root()):
        if (root / "conf" / "config.yaml").is_file():
            return root / "conf"
    raise UsageError(
        "no --params FILE given and no conf/config.yaml found in this project; "
        "pass --params FILE or run from the project root"
    )


def compose_params(
    conf_dir: Path, out: Path, grid: str | None, profile: str | None, overrides: list[str]
) -> None:
    """Write params.yaml for `grid` x `profile` (None: conf/config.yaml's default)."""
    from dvc.utils.hydra import compose_and_dump

    chosen = []
    for group, name in (("grid", grid), ("profile", profile)):
        if name is None:
            continue
        check_group(conf_dir, group, name)
        chosen.append(f"{group}={name}")
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".params-", suffix=".yaml", dir=out.parent)
    os.close(fd)
    try:
        conf = str(conf_dir.resolve())
        compose_and_dump(tmp, conf, None, "config", conf, [*chosen, *overrides])
        os.replace(tmp, out)
    except Exception as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, UsageError):
            raise
        raise UsageError(f"cannot compose params: {exc}".splitlines()[0]) from exc


def default_params(
    conf_dir: Path | None = None, profile: str | None = None, grid: str | None = None
) -> dict[str, Any]:
    """What conf/ composes with its own defaults (or with `profile` and/or `grid` instead of
    the workspace's): the settings of a bare `weightswitch train`, so that it runs exactly
    what the pipeline runs for the same grid x profile (one source of defaults, not a second
    set in the dataclasses)."""
    conf_dir = conf_dir or find_conf_dir()
    with tempfile.TemporaryDirectory(prefix="weightswitch-params-") as tmp:
        out = Path(tmp) / "params.yaml"
        compose_params(conf_dir, out, grid, profile, [])
        return load_params(out)


def run_params(path: str | None, profile: str | None) -> dict[str, Any]:
    """A run's params: the file `path`, or what conf/ composes (with `profile`'s recipe)."""
    if not path:
        known = group_choices(find_conf_dir(), "profile")
        if profile is None or profile in known:
            return default_params(profile=profile)
        if closest(profile, known, cutoff=0.6):  # a typo of a profile: say so
            raise unknown_choice("profile", profile, known)
        # no profile's name: a label on the workspace's recipe (as `--set profile=LABEL`)
        return {**default_params(), "profile": profile}
    params = load_params(path)
    if profile is not None and profile != params.get("profile"):
        raise UsageError(
            f"--profile {profile} is not the profile of {path} "
            f"({params.get('profile')}): drop --params to train {profile}'s recipe, or switch "
            f"the workspace: weightswitch params --profile {profile}"
        )
    return params
