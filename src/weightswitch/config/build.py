"""A run's settings, resolved: params file < explicit flags < `--set`, into one `RunConfig`.

Precedence: recipe < archs[arch] < methods[method] < explicit CLI flags. Keys at any level
may be run keys, switcher keys or pruning keys (a key that does not apply to the method is
ignored); any other key is a keyword argument of the model (e.g. vgg16's `head_width`).
`resolve` is what `weightswitch train` calls: the params (a file, or what conf/ composes),
the `--set` keys of that file, the flags and the run keys of `--set`, checked, in one call.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, NamedTuple

from weightswitch.catalog import (
    METHODS,
    PRUNE_ALLOCATIONS,
    PRUNE_CRITERIA,
    PRUNE_METHODS,
    SWITCHER_METHODS,
    SWITCHER_VARIANTS,
)
from weightswitch.config.flags import ParamsSource, given_settings
from weightswitch.config.params import PARAMS_HEADS, apply_overrides, run_params
from weightswitch.config.schema import (
    DEFAULT_PROFILE,
    PRUNE_KEYS,
    RUN_KEYS,
    SECTION_KEYS,
    SWITCHER_KEYS,
    RunConfig,
    field_names,
)
from weightswitch.config.tree import (
    closest,
    deep_merge,
    parse_assignment,
    set_dotted,
    unknown_key,
)
from weightswitch.config.validate import check_names, config_from_json, from_dict, validate
from weightswitch.errors import UsageError, unknown_choice
from weightswitch.options import read_options


def _route(section: dict[str, Any], where: str, model_keys: bool = False) -> dict[str, Any]:
    """Sort one params section's keys into run / switcher / prune / model keys.

    Only an `archs.<arch>` section (`model_keys`) may hold the model's keyword arguments
    (checked when the model is built); anywhere else an unknown key is an error."""
    if not isinstance(section, dict):
        raise UsageError(f"{where} must be a mapping, got {section!r}")
    if not model_keys:
        for key in section:
            if key not in SECTION_KEYS:
                raise UsageError(unknown_key(key, SECTION_KEYS, where))
    tree: dict[str, Any] = {}
    for key, value in section.items():
        if key in ("switcher", "prune", "model"):
            if not isinstance(value, dict):
                raise UsageError(f"{where}.{key} must be a mapping, got {value!r}")
            tree = deep_merge(tree, {key: value})
        elif key in RUN_KEYS:
            tree = deep_merge(tree, {key: value})
        elif key in SWITCHER_KEYS:
            tree = deep_merge(tree, {"switcher": {key: value}})
        elif key in PRUNE_KEYS:
            tree = deep_merge(tree, {"prune": {key: value}})
        else:  # a model keyword argument (checked when the model is built)
            tree = deep_merge(tree, {"model": {key: value}})
    return tree


def _format_paths(tree: dict[str, Any], names: dict[str, Any]) -> None:
    """Expand {profile}/{dataset}/{arch}/{seed} placeholders in prune paths."""
    prune = tree.get("prune")
    if not isinstance(prune, dict):
        return
    for key in ("match", "init_from"):
        value = prune.get(key)
        if isinstance(value, str) and "{" in value:
            try:
                prune[key] = value.format(**names)
            except (KeyError, IndexError, ValueError) as exc:
                raise UsageError(
                    f"prune.{key} {value!r}: bad placeholder {exc}; "
                    "valid: {profile}, {dataset}, {arch}, {seed}"
                ) from None


def build_config(
    arch: str,
    dataset: str,
    method: str,
    params: dict[str, Any] | None = None,
    overrides: dict[str, Any] | None = None,
) -> RunConfig:
    """Resolve a RunConfig: params recipe < archs[arch] < methods[method] < overrides.

    `overrides` maps dotted keys (`optimizer.lr`, `switcher.phase_length`, `seed`) to values;
    only explicitly given CLI flags should be in it (a None value is skipped here)."""
    if method not in METHODS:
        raise unknown_choice("method", method, METHODS)
    params = params or {}
    tree: dict[str, Any] = {}
    for key in ("profile", "grid"):
        if key in params:
            tree[key] = params[key]
    data = params.get("data") or {}
    if isinstance(data, dict) and "root" in data:
        tree["data_root"] = data["root"]
    tree = deep_merge(tree, _route(params.get("recipe") or {}, "recipe"))
    for section, name in (("archs", arch), ("methods", method)):
        table = params.get(section) or {}
        if not isinstance(table, dict):
            raise UsageError(f"{section} must be a mapping of name -> settings")
        where = f"{section}.{name}"
        tree = deep_merge(tree, _route(table.get(name) or {}, where, section == "archs"))
    for dotted, value in (overrides or {}).items():
        group = dotted.split(".")[0]
        if (group == "switcher" and method not in SWITCHER_METHODS) or (
            group == "prune" and method not in PRUNE_METHODS
        ):
            raise UsageError(f"{dotted.split('.')[-1]} does not apply to method {method!r}")
        if value is not None:
            set_dotted(tree, dotted, value)
    tree.update(arch=arch, dataset=dataset, method=method)

    switcher = tree.pop("switcher", None) or {}
    prune = tree.pop("prune", None) or {}
    if method in SWITCHER_METHODS:
        for key, value in SWITCHER_VARIANTS[method].items():
            switcher.setdefault(key, value)
        tree["switcher"] = switcher
    elif method in PRUNE_METHODS:
        prune.setdefault("method", PRUNE_CRITERIA[method])
        if method in PRUNE_ALLOCATIONS:
            prune.setdefault("allocation", PRUNE_ALLOCATIONS[method])
        tree["prune"] = prune
        names = {
            "profile": tree.get("profile", DEFAULT_PROFILE),
            "dataset": dataset,
            "arch": arch,
            "seed": tree.get("seed", 0),
        }
        _format_paths(tree, names)
    cfg = from_dict(RunConfig, tree)
    if cfg.out is None:
        cfg.out = str(Path("results", "runs", cfg.profile, cfg.run_name))
    validate(cfg)
    return cfg


# --------------------------------------------------------------- one command line's run


class RunSettings(NamedTuple):
    config: RunConfig
    params: dict[str, Any]  # the params it was resolved from (the file, or conf/'s)


def _check_run_key(key: str) -> None:
    """A `--set` key that is neither a params file key nor a run key: the closest of both."""
    valid = field_names(RunConfig)
    head = key.split(".")[0]
    if head not in valid:
        close = closest(head, sorted(valid | set(PARAMS_HEADS)), cutoff=0.75)
        if close:
            raise UsageError(f"unknown key {key!r}; did you mean {close!r}?")
        raise UsageError(unknown_key(key, valid))


def _unset(cfg: RunConfig, keys: list[str]) -> RunConfig:
    """`cfg` with the run keys `keys` set to None (`--set train_limit=null`), checked."""
    data = cfg.to_dict()
    for key in keys:
        set_dotted(data, key, None)
    cfg = config_from_json(data)
    validate(cfg)
    return cfg


def resolve(args: argparse.Namespace) -> RunSettings:
    """The run that `weightswitch train ARGS` asks for (the flags of `flags.add_settings_flags`).

    `--set` takes the keys of a params file, as `weightswitch params` does (`recipe.epochs=3`,
    `methods.switcher.phase_length=2`; `profile`: the file's label), and the keys of the run
    itself (`epochs=3`, `optimizer.lr=0.01`: above every params section); `KEY=null` unsets a
    key. `--profile P` picks the params, not a label (see `params.run_params`)."""
    overrides = given_settings(args)
    arch, dataset, method = (overrides.pop(k) for k in ("arch", "dataset", "method"))
    profile = overrides.pop("profile", None)
    in_params: dict[str, Any] = {}
    source = read_options(args, ParamsSource)
    sets = dict(parse_assignment(item, "--set") for item in source.set)
    for key, value in sets.items():
        if key == "profile" or key.split(".")[0] in PARAMS_HEADS:
            in_params[key] = value
        else:
            _check_run_key(key)
            overrides[key] = value
    params = apply_overrides(run_params(source.params, profile), in_params)
    cfg = build_config(arch, dataset, method, params, overrides)
    unset = [k for k, v in overrides.items() if v is None]
    if unset:
        cfg = _unset(cfg, unset)
    check_names(cfg.arch, cfg.dataset)
    return RunSettings(cfg, params)
