"""Nested settings as plain dicts: dotted keys, merging, a value typed on a command line, and
the one-line "did you mean" message for a key that is not valid where it stands.

Every place that reads `KEY=VALUE` (`weightswitch params`, `train --set`) or sets a dotted key
(`optimizer.lr`, `recipe.epochs`) uses these, so each rule is written once."""

from __future__ import annotations

import copy
import difflib
from collections.abc import Iterable
from typing import Any

from weightswitch.errors import UsageError


def deep_merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """`base` updated by `update`, mappings merged key by key (neither input is changed)."""
    out = dict(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)  # never alias (and later mutate) the caller's params
    return out


def set_dotted(tree: dict[str, Any], dotted: str, value: Any) -> None:
    """Set `a.b.c` in `tree`, making (or replacing by) mappings on the way."""
    *parents, last = dotted.split(".")
    for part in parents:
        if not isinstance(tree.get(part), dict):
            tree[part] = {}
        tree = tree[part]
    tree[last] = value


def parse_value(text: str) -> Any:
    """The value of `KEY=TEXT` as YAML reads it (`3`, `null`, `[0, 1]`), else the text itself
    (so `a[1` stays a string, which the key's type then refuses in one line)."""
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def parse_assignment(item: str, option: str) -> tuple[str, Any]:
    """`KEY=VALUE` -> (KEY, its parsed value); a one-line error naming `option` otherwise."""
    key, sep, text = item.partition("=")
    if not sep or not key:
        raise UsageError(f"{option} expects KEY=VALUE, got {item!r}")
    return key.strip(), parse_value(text)


def flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested dict -> {"optimizer.lr": 0.1, ...} (lists kept as values) for MLflow params."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            out.update(flatten(value, f"{name}."))
        else:
            out[name] = value
    return out


def closest(name: str, valid: Iterable[str], cutoff: float = 0.6) -> str | None:
    """The valid name closest to `name`, if any is close enough to be a typo of it."""
    found = difflib.get_close_matches(name, list(valid), n=1, cutoff=cutoff)
    return found[0] if found else None


def did_you_mean(name: str, valid: Iterable[str], cutoff: float = 0.6) -> str:
    """ "; did you mean 'X'?" for the closest valid name, else ""."""
    close = closest(name, valid, cutoff)
    return f"; did you mean {close!r}?" if close else ""


def unknown_key(key: str, valid: Iterable[Any], where: str = "") -> str:
    """The one-line message for a key that is not valid here, with the closest valid key."""
    names = sorted(str(v) for v in valid)
    place = f" in {where}" if where else ""
    hint = did_you_mean(str(key).split(".")[-1], names)
    return f"unknown key {key!r}{place}; valid keys: {', '.join(names)}{hint}"
