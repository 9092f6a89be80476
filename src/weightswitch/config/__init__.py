"""The typed run configuration, built from a params file plus command-line overrides.

One package, one concern per module (lowest first): `tree` (dotted keys, merging, "did you
mean"), `schema` (the dataclasses: each setting's type, default, help and flag), `validate`
(values against their types, a run against its rules), `params` (params files: read strictly,
composed from conf/, dotted keys set), `flags` (`train`'s flags, generated from the schema),
`build` (`build_config`: params < flags < `--set`; `resolve`: one command line's run). The
names other modules use are re-exported here, so `from weightswitch.config import X` works.
"""

from __future__ import annotations

# The methods, their switcher variants and pruning criteria: one catalog (weightswitch.catalog).
from weightswitch.catalog import (
    GATE_NETS,
    GRANULARITIES,
    METHODS,
    PRUNE_ALLOCATIONS,
    PRUNE_CRITERIA,
    PRUNE_METHODS,
    SNN_INPUTS,
    SWITCHER_METHODS,
    SWITCHER_VARIANTS,
)
from weightswitch.config.build import RunSettings, build_config, resolve
from weightswitch.config.flags import ParamsSource, add_settings_flags, settings_flags
from weightswitch.config.params import (
    PARAMS_HEADS,
    apply_overrides,
    check_group,
    check_key,
    check_params,
    compose_params,
    default_params,
    find_conf_dir,
    group_choices,
    load_params,
)
from weightswitch.config.schema import (
    DEFAULT_PROFILE,
    NON_SEMANTIC,
    OptimizerConfig,
    PruneConfig,
    RunConfig,
    ScheduleConfig,
    SwitcherConfig,
    expand,
)
from weightswitch.config.tree import flatten, parse_value, set_dotted, unknown_key
from weightswitch.config.validate import config_from_json, from_dict, validate

__all__ = [
    "DEFAULT_PROFILE",
    "GATE_NETS",
    "GRANULARITIES",
    "METHODS",
    "NON_SEMANTIC",
    "PARAMS_HEADS",
    "PRUNE_ALLOCATIONS",
    "PRUNE_CRITERIA",
    "PRUNE_METHODS",
    "SNN_INPUTS",
    "SWITCHER_METHODS",
    "SWITCHER_VARIANTS",
    "OptimizerConfig",
    "ParamsSource",
    "PruneConfig",
    "RunConfig",
    "RunSettings",
    "ScheduleConfig",
    "SwitcherConfig",
    "add_settings_flags",
    "apply_overrides",
    "build_config",
    "check_group",
    "check_key",
    "check_params",
    "compose_params",
    "config_from_json",
    "default_params",
    "expand",
    "find_conf_dir",
    "flatten",
    "from_dict",
    "group_choices",
    "load_params",
    "parse_value",
    "resolve",
    "set_dotted",
    "settings_flags",
    "unknown_key",
    "validate",
]
