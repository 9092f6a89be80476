"""`weightswitch train`'s settings flags, generated from the schema (OpenLTH's hparams).

Each flag comes from one field of `RunConfig` or of its sections: its name from the field's
name (or its metadata's `flag`; a section's `prefix` goes before its fields' names, and a
section's `name` field takes the section's own name: `--snn-optimizer`), its type from the
field's type (`options.type_kwargs`, every command's mapping: `bool`: `--x/--no-x` here,
`list[int]`: any number of integers), its help from the field's metadata. A flag's value is
the dotted config key it sets (`--snn-lr` sets `switcher.snn_optimizer.lr`). Defaults are
SUPPRESSed: only the flags actually given override the params file, so the params file (or
conf/) stays the one source of defaults.
"""

from __future__ import annotations

import argparse
import dataclasses
import typing
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from weightswitch.config.schema import RunConfig, file_key
from weightswitch.options import (
    Argument,
    add_arguments,
    add_options,
    option,
    type_kwargs,
    without_none,
)


@dataclass(frozen=True)
class Flag:
    """One generated flag: its spelling, the dotted config key it sets, argparse's kwargs."""

    flag: str
    key: str
    kwargs: dict[str, Any]
    required: bool = False

    def argument(self) -> Argument:
        """The argparse argument: its value goes to the dotted config key."""
        return Argument((self.flag,), {"dest": self.key, "required": self.required, **self.kwargs})


@dataclass(frozen=True)
class ParamsSource:
    """Where `train`'s params come from: the params file and `--set` keys (`build.resolve`)."""

    params: str | None = option(
        "params.yaml (default: what conf/ composes, as the pipeline)", default=None, metavar="FILE"
    )
    set: list[str] = option(
        "a params file key (recipe.epochs=3, as `weightswitch params`) or a run "
        "key (schedule.name=cosine); KEY=null unsets (repeatable)",
        default_factory=list,
        metavar="KEY=VALUE",
        append=True,
    )


def _kwargs(tp: Any, meta: Any, lead: str) -> dict[str, Any]:
    """argparse's kwargs for a field of type `tp` with metadata `meta` (`lead`: the start of
    its help, naming its section)."""
    text = lead + meta.get("help", "")
    if "{choices}" in text:
        text = text.replace("{choices}", " | ".join(meta["choices"]))
    kwargs: dict[str, Any] = {"help": text, **type_kwargs(tp, negatable=True)}
    if "metavar" in meta:
        kwargs["metavar"] = meta["metavar"]
    return kwargs


def _flags(
    cls: Any, key: str, prefix: str, section: str, only: Any, lead: str = ""
) -> Iterator[Flag]:
    """The flags of dataclass `cls`'s fields `only` (None: all), at config key `key`."""
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        meta = f.metadata
        tp = without_none(hints[f.name])
        own = meta.get("flag", f.name.replace("_", "-"))
        if (only is not None and f.name not in only) or own is None:
            continue
        if dataclasses.is_dataclass(tp):
            inner = prefix + meta.get("prefix", "")
            named = f"{meta['help']}: " if meta.get("prefix") else ""  # --snn-lr: the SNN's ...
            yield from _flags(
                tp, f"{key}{f.name}.", inner, prefix + own, meta.get("flags"), lead + named
            )
            continue
        flag = section if f.name == "name" and section else prefix + own
        kwargs = _kwargs(tp, meta, lead)
        if "action" not in kwargs:  # `--snn-lr SNN_LR`, not the dotted key it sets
            kwargs.setdefault("metavar", flag.upper().replace("-", "_"))
        yield Flag(f"--{flag}", key + file_key(f), kwargs, bool(meta.get("required")))


def settings_flags() -> list[Flag]:
    """Every settings flag of `weightswitch train`, in the schema's order."""
    return list(_flags(RunConfig, "", "", "", None))


def add_settings_flags(parser: argparse.ArgumentParser) -> None:
    """Add the settings flags (the required ones, `--params` and `--set` on `parser` itself,
    the others in a group of their own); `build.resolve` reads them back."""
    group = parser.add_argument_group("run settings (override the params file)")
    for flag in settings_flags():
        add_arguments(parser if flag.required else group, [flag.argument()])
    add_options(parser, ParamsSource)


def given_settings(args: argparse.Namespace) -> dict[str, Any]:
    """The settings flags given on the command line: dotted config key -> value."""
    keys = {flag.key for flag in settings_flags()}
    return {k: v for k, v in vars(args).items() if k in keys}
