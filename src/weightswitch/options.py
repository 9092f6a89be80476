"""Command-line options declared as typed dataclass fields: the one generator of argparse
arguments (issue 39; OpenLTH's hparams style, as `config.flags` for `train`'s settings).

Why: a flag written by hand drifts from the code that reads it (a renamed attribute, a default
said twice). Here a command declares its options once, as the fields of a dataclass, each with
`option(help=...)`; `add_options` turns them into argparse arguments and `read_options` turns
the parsed namespace back into a typed instance of that dataclass, which the command reads.

A field's type says how argparse parses it (`type_kwargs`, also used by `config.flags`):
`bool`: `--x` (`negatable`: `--x/--no-x`); `int`, `float`, `Path`: converted, a bad value is
argparse's one-line error; `list[X]`: any number of `X` (`nargs` says otherwise); `X | None`:
as `X`, default None. A field whose type is a dataclass contributes that dataclass's options
in its place (`report`'s `ReportOptions`); fields without `option()` are not flags.
"""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")
OPTION = "option"  # the metadata key that marks a field as a command-line option


def option(
    help: str | None = None,
    *,
    default: Any = dataclasses.MISSING,
    default_factory: Callable[[], Any] | Any = dataclasses.MISSING,
    metavar: str | None = None,
    positional: bool = False,
    choices: Sequence[str] | None = None,
    nargs: str | None = None,
    parse: Callable[[str], Any] | None = None,
    negatable: bool = False,
    append: bool = False,
) -> Any:
    """A dataclass field that is a command-line option: `--name-of-field`, or the positional
    `name_of_field` (a field of a dataclass type: that dataclass's options, in its place).
    `parse` replaces the type's converter (its name is in argparse's error); `negatable`: a
    `bool` as `--x/--no-x`; `append`: a `list` option given once per item."""
    spec = {
        "help": help,
        "metavar": metavar,
        "positional": positional,
        "choices": choices,
        "nargs": nargs,
        "parse": parse,
        "negatable": negatable,
        "append": append,
    }
    return dataclasses.field(
        default=default, default_factory=default_factory, metadata={OPTION: spec}
    )


def without_none(tp: Any) -> Any:
    """`X` of `X | None`; any other type as it is."""
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        return next(a for a in typing.get_args(tp) if a is not type(None))
    return tp


def type_kwargs(tp: Any, *, negatable: bool = False) -> dict[str, Any]:
    """argparse's keyword arguments for a value of type `tp`: the one type -> argparse mapping
    (the commands' options and `train`'s generated settings flags alike)."""
    tp = without_none(tp)
    if tp is bool:
        return {"action": argparse.BooleanOptionalAction if negatable else "store_true"}
    if typing.get_origin(tp) is list:
        (item,) = typing.get_args(tp)
        return {"nargs": "*", **type_kwargs(item)}
    return {} if tp is str else {"type": tp}  # int, float, Path: argparse converts


@dataclass(frozen=True)
class Argument:
    """One argparse argument: its names (`--flag` or a positional's name) and the keyword
    arguments of `add_argument`."""

    names: tuple[str, ...]
    kwargs: dict[str, Any]


def _default(f: dataclasses.Field) -> Any:
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return f.default


def _argument(f: dataclasses.Field, tp: Any) -> Argument:
    spec = f.metadata[OPTION]
    kwargs = type_kwargs(tp, negatable=spec["negatable"])
    if spec["append"]:
        kwargs["action"] = "append"
        kwargs.pop("nargs", None)
    for key in ("nargs", "metavar", "choices", "help"):
        if spec[key] is not None:
            kwargs[key] = spec[key]
    if spec["parse"] is not None:
        kwargs["type"] = spec["parse"]
    default = _default(f)
    if default is not dataclasses.MISSING:
        kwargs["default"] = default
    elif not spec["positional"]:
        kwargs["required"] = True
    return Argument((f.name if spec["positional"] else "--" + f.name.replace("_", "-"),), kwargs)


def _fields(cls: type) -> Iterator[tuple[dataclasses.Field, Any]]:
    """(field, its type without `| None`) of `cls`'s option fields."""
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if OPTION not in f.metadata:
            continue
        yield f, without_none(hints[f.name])


def arguments(cls: type) -> Iterator[Argument]:
    """The argparse arguments of dataclass `cls`'s option fields, in their order."""
    for f, tp in _fields(cls):
        if dataclasses.is_dataclass(tp):
            yield from arguments(tp)
        else:
            yield _argument(f, tp)


def add_arguments(target: Any, items: Iterable[Argument]) -> None:
    """Add `items` to a parser or an argument group: the one `add_argument` call of src/
    (tests/test_options.py)."""
    for item in items:
        target.add_argument(*item.names, **item.kwargs)


def add_options(parser: argparse.ArgumentParser, cls: type) -> None:
    """Add dataclass `cls`'s options to `parser`."""
    add_arguments(parser, arguments(cls))


def read_options(args: argparse.Namespace, cls: type[T]) -> T:
    """The typed `cls` of a parsed command line (fields that are not options: their defaults)."""
    values = {
        f.name: read_options(args, tp) if dataclasses.is_dataclass(tp) else getattr(args, f.name)
        for f, tp in _fields(cls)
    }
    return cls(**values)


def parse_options(parser: argparse.ArgumentParser, cls: type[T], argv: Sequence[str]) -> T:
    """`cls`'s options added to `parser`, `argv` parsed into a typed `cls`."""
    add_options(parser, cls)
    return read_options(parser.parse_args(list(argv)), cls)
