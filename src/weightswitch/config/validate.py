"""Checking a run's settings: each value against its field's type (params files and `--set`
give YAML or text), then the run as a whole against the rules that tie its fields together.

Every problem is one `UsageError` line that names the key, the bad value and the valid
choices (for a key: the closest valid one, "did you mean"), so a typo never trains with a
built-in default."""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable
from typing import Any

from weightswitch.catalog import (
    PRUNE_ALLOCATIONS,
    PRUNE_CRITERIA,
    PRUNE_METHODS,
    SWITCHER_METHODS,
    SWITCHER_VARIANTS,
)
from weightswitch.config.schema import (
    DEVICES,
    OptimizerConfig,
    RunConfig,
    ScheduleConfig,
    file_key,
)
from weightswitch.config.tree import unknown_key
from weightswitch.errors import UsageError, unknown_choice

# ------------------------------------------------------------------ values against types

_TRUE, _FALSE = ("true", "yes", "1"), ("false", "no", "0")


def _to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in _TRUE + _FALSE:
        return value.lower() in _TRUE
    raise ValueError(value)


def _to_int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise TypeError(value)
    return int(value)


def _to_float(value: Any) -> float:
    if isinstance(value, bool):
        raise TypeError(value)
    return float(value)


def _to_str(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise TypeError(value)
    return str(value)


# field type -> (what the message says a value must be, the conversion)
SCALARS: dict[type, tuple[str, Callable[[Any], Any]]] = {
    bool: ("true or false", _to_bool),
    int: ("an integer", _to_int),
    float: ("a number", _to_float),
    str: ("a string", _to_str),
}


def coerce(value: Any, tp: Any, key: str) -> Any:
    """`value` as field type `tp` (a dataclass, `X | None`, a list, a dict or a scalar);
    a one-line UsageError naming `key` when it cannot be one."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        return coerce(value, next(a for a in args if a is not type(None)), key)
    if dataclasses.is_dataclass(tp):
        if isinstance(value, tp):
            return value
        if not isinstance(value, dict):
            raise UsageError(f"{key} must be a mapping, got {value!r}")
        return from_dict(tp, value, prefix=f"{key}.")  # type: ignore[arg-type]
    if tp in SCALARS:
        what, convert = SCALARS[tp]
        try:
            return convert(value)
        except (TypeError, ValueError):
            raise UsageError(f"{key} must be {what}, got {value!r}") from None
    if origin is list:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = [value]
        if not isinstance(value, (list, tuple)):
            raise UsageError(f"{key} must be a list, got {value!r}")
        (item,) = typing.get_args(tp)
        return [coerce(v, item, f"{key}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise UsageError(f"{key} must be a mapping, got {value!r}")
        return dict(value)
    return value


def from_dict(cls: type, data: dict[str, Any], prefix: str = "") -> Any:
    """Build dataclass `cls` from a (nested) dict; unknown keys are a UsageError."""
    hints = typing.get_type_hints(cls)
    names = {file_key(f): f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - set(names))
    if unknown:
        raise UsageError(unknown_key(prefix + unknown[0], list(names)))
    kwargs = {names[k]: coerce(v, hints[names[k]], f"{prefix}{k}") for k, v in data.items()}
    try:
        return cls(**kwargs)
    except TypeError as exc:  # a required field is missing
        raise UsageError(f"{prefix.rstrip('.') or cls.__name__}: {exc}") from None


def config_from_json(data: dict[str, Any]) -> RunConfig:
    """Rebuild a RunConfig from its `to_dict()` form (config.json, checkpoints)."""
    return from_dict(RunConfig, data)


# ------------------------------------------------------------------------ a run's rules


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise UsageError(message)


def _check_choices(section: Any, where: str) -> None:
    """Every field with `choices` in its metadata, in `section` and its sections (a
    section's `name` is called "<section> name" in the message, e.g. "schedule name")."""
    for f in dataclasses.fields(section):
        value = getattr(section, f.name)
        if dataclasses.is_dataclass(value):
            _check_choices(value, f.name)
        elif "choices" in f.metadata and value not in f.metadata["choices"]:
            kind = f"{where} name" if f.name == "name" else f.metadata.get("kind", f.name)
            raise unknown_choice(kind, value, f.metadata["choices"])


def _validate_optimizer(opt: OptimizerConfig, key: str) -> None:
    _check(opt.lr > 0, f"{key}.lr must be > 0, got {opt.lr}")
    _check(opt.momentum >= 0, f"{key}.momentum must be >= 0, got {opt.momentum}")
    _check(opt.weight_decay >= 0, f"{key}.weight_decay must be >= 0, got {opt.weight_decay}")
    _check(
        opt.grad_clip is None or opt.grad_clip > 0,
        f"{key}.grad_clip must be > 0 or null, got {opt.grad_clip}",
    )
    _check(
        not opt.nesterov or (opt.name == "sgd" and opt.momentum > 0),
        f"{key}.nesterov needs sgd with momentum > 0",
    )


def _validate_schedule(s: ScheduleConfig, key: str) -> None:
    _check(
        all(m > 0 for m in s.milestones) and s.milestones == sorted(set(s.milestones)),
        f"{key}.milestones must be increasing positive epochs, got {s.milestones}",
    )
    _check(0 < s.gamma <= 1, f"{key}.gamma must be in (0, 1], got {s.gamma}")
    _check(0 < s.factor < 1, f"{key}.factor must be in (0, 1), got {s.factor}")
    _check(s.patience >= 0, f"{key}.patience must be >= 0, got {s.patience}")
    _check(s.min_lr >= 0, f"{key}.min_lr must be >= 0, got {s.min_lr}")
    _check(s.stop_lr is None or s.stop_lr > 0, f"{key}.stop_lr must be > 0, got {s.stop_lr}")


def validate(cfg: RunConfig) -> None:
    """Raise a one-line UsageError naming the first bad value (and the valid choices)."""
    _check_choices(cfg, "")
    _check(cfg.epochs > 0, f"epochs must be > 0, got {cfg.epochs}")
    _check(cfg.batch_size > 0, f"batch_size must be > 0, got {cfg.batch_size}")
    _check(cfg.eval_batch_size > 0, f"eval_batch_size must be > 0, got {cfg.eval_batch_size}")
    for key in ("train_limit", "eval_limit"):
        value = getattr(cfg, key)
        _check(value is None or value > 0, f"{key} must be > 0 or null, got {value}")
    if cfg.device.split(":")[0] != "cuda" and cfg.device not in DEVICES:  # cuda[:N]
        raise unknown_choice("device", cfg.device, DEVICES)
    _check(bool(cfg.profile) and "/" not in cfg.profile, f"bad profile name {cfg.profile!r}")
    _validate_optimizer(cfg.optimizer, "optimizer")
    _validate_schedule(cfg.schedule, "schedule")
    if cfg.method in SWITCHER_METHODS:
        _validate_switcher(cfg)
    if cfg.method in PRUNE_METHODS:
        _validate_prune(cfg)


def _validate_switcher(cfg: RunConfig) -> None:
    sw = cfg.switcher
    assert sw is not None
    for key, want in SWITCHER_VARIANTS[cfg.method].items():
        got = getattr(sw, key)
        _check(got == want, f"method {cfg.method} uses {key} {want!r}, got {got!r}")
    _check(sw.phase_length >= 1, f"phase_length must be >= 1, got {sw.phase_length}")
    _check(
        0 <= sw.warmup_epochs < cfg.epochs,
        f"warmup_epochs must be in [0, epochs={cfg.epochs}), got {sw.warmup_epochs}",
    )
    _validate_optimizer(sw.snn_optimizer, "snn_optimizer")
    if sw.snn_schedule is not None:
        _validate_schedule(sw.snn_schedule, "snn_schedule")


def _validate_prune(cfg: RunConfig) -> None:
    pr = cfg.prune
    assert pr is not None
    criterion = PRUNE_CRITERIA[cfg.method]
    _check(
        pr.criterion == criterion,
        f"prune.method {pr.criterion!r} contradicts method {cfg.method!r} ({criterion})",
    )
    _check(pr.steps >= 1, f"prune steps must be >= 1, got {pr.steps}")
    _check(
        pr.steps == 1 or pr.criterion == "magnitude",
        f"pruning in {pr.steps} steps needs the magnitude criterion, got {pr.criterion!r}",
    )
    _check(
        pr.steps == 1 or pr.finetune_epochs >= 1,
        f"iterative pruning ({pr.steps} steps) needs finetune_epochs >= 1 after each step",
    )
    _check(
        PRUNE_ALLOCATIONS.get(cfg.method, pr.allocation) == pr.allocation,
        f"method {cfg.method} prunes with allocation {PRUNE_ALLOCATIONS.get(cfg.method)}, "
        f"got {pr.allocation!r}",
    )
    _check(
        pr.scope == "layer",
        f"scope global is allocation global; it cannot be combined with allocation "
        f"{pr.allocation!r}",
    )
    _check(
        (pr.sparsity is None) != (pr.match is None),
        "pruning needs exactly one target: --sparsity F or --match RUN_DIR",
    )
    _check(
        pr.match is None or pr.allocation != "output-denser",
        "allocation output-denser needs --sparsity: --match fixes every layer's sparsity",
    )
    _check(0 <= pr.output_ratio <= 1, f"output_ratio must be in [0, 1], got {pr.output_ratio}")
    _validate_schedule(pr.finetune_schedule, "finetune_schedule")
    _check(
        pr.finetune_schedule.stop_lr is None,
        "finetune_schedule.stop_lr is not supported: fine-tuning runs finetune_epochs",
    )
    _check(
        pr.sparsity is None or 0 <= pr.sparsity < 1,
        f"sparsity must be in [0, 1), got {pr.sparsity}",
    )
    _check(
        pr.criterion != "none" or pr.sparsity == 0,
        f"method {cfg.method} is an equal-budget control: it prunes nothing, pass --sparsity 0",
    )
    _check(pr.finetune_epochs >= 0, f"finetune_epochs must be >= 0, got {pr.finetune_epochs}")
    _check(
        pr.finetune_lr is None or pr.finetune_lr > 0,
        f"finetune_lr must be > 0, got {pr.finetune_lr}",
    )


def check_names(arch: str, dataset: str) -> None:
    """Fail on a bad arch/dataset (or a pair that does not fit) before any data is read."""
    from weightswitch.data import get_spec
    from weightswitch.models import get_arch

    get_spec(dataset)
    spec = get_arch(arch)
    if dataset not in spec.datasets:
        raise UsageError(
            f"arch {arch!r} does not fit dataset {dataset!r}; "
            f"{arch} works with: {', '.join(spec.datasets)}"
        )
