"""`weightswitch` command line: the only entry point the DVC pipeline calls.

Each sub-command lives next to the code it drives and registers itself through
`add_parser(subparsers)`; this module only dispatches and turns
`WeightswitchError` into a one-line message with the right exit code (an `OSError` too: its
error, its path, what to do). A mistyped command
line gets two lines too (`CompactParser`): the sub-command, the bad option, the closest
valid one, and where the full usage is, never pages of usage.
"""

from __future__ import annotations

import argparse
import difflib
import importlib
import sys
from collections.abc import Sequence
from typing import NoReturn

from weightswitch.errors import WeightswitchError, os_error_text

# The modules of the sub-commands; each defines add_parser(subparsers) -> parser with
# `set_defaults(func=...)` and imports its heavy dependencies inside `func`, so that
# `weightswitch --help` stays fast. A name here that does not import is an error, not a
# silently missing command (tests/test_cli_errors.py).
COMMANDS: list[str] = [
    "weightswitch.data.cli",
    "weightswitch.train.cli",
    "weightswitch.report.cli",
    "weightswitch.params_cli",
    "weightswitch.bench.cli",
    "weightswitch.dag_cli",
    "weightswitch.plots_cli",
    "weightswitch.track_cli",
    "weightswitch.dryrun_cli",
    "weightswitch.lock_cli",
    "weightswitch.repro_cli",
]


class CompactParser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are two lines: `PROG: error: ...` (an unknown option
    first, with the closest valid one) and where the usage is."""

    _seen: tuple[str, ...] = ()  # the words being parsed, for error()

    def parse_known_args(self, args=None, namespace=None):  # type: ignore[override]
        self._seen = tuple(sys.argv[1:] if args is None else args)
        return super().parse_known_args(args, namespace)

    def _unknown(self, words: Sequence[str]) -> list[str]:
        options = [s for s in self._option_string_actions if s.startswith("--")]
        return [
            w
            for w in words
            if w.startswith("--")
            and w != "--"
            and not any(o.startswith(w.split("=")[0]) for o in options)
        ]

    def _closest(self, word: str) -> str:
        options = [s for s in self._option_string_actions if s.startswith("--")]
        close = difflib.get_close_matches(word.split("=")[0], options, n=1, cutoff=0.6)
        return f"; did you mean {close[0]}?" if close else ""

    def error(self, message: str) -> NoReturn:
        unknown = self._unknown(self._seen)
        if unknown and not message.startswith("unrecognized arguments"):
            message = f"unrecognized arguments: {' '.join(unknown)}"  # before 'required: ...'
        if message.startswith("unrecognized arguments"):
            words = message.split(": ", 1)[1].split()
            message += self._closest((self._unknown(words) or words)[0])
        self.exit(2, f"{self.prog}: error: {message}\n{self.prog}: options: {self.prog} --help\n")


def _build() -> tuple[CompactParser, dict[str, argparse.ArgumentParser]]:
    parser = CompactParser(
        prog="weightswitch",
        description="Switcher-network sparsification benchmark: fetch, train, report, bench.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands: dict[str, argparse.ArgumentParser] = {}
    for name in COMMANDS:
        p = importlib.import_module(name).add_parser(sub)
        commands[p.prog.split()[-1]] = p
    return parser, commands


def main(argv: list[str] | None = None) -> int:
    parser, commands = _build()
    args, unknown = parser.parse_known_args(argv)
    if getattr(args, "pass_unknown", False):  # a wrapper: its tool reads the rest
        args.unknown = unknown
    elif unknown:  # the sub-command's error, not the top-level usage
        commands.get(args.command, parser).error(f"unrecognized arguments: {' '.join(unknown)}")
    try:
        result = args.func(args)
    except WeightswitchError as exc:
        print(f"weightswitch {args.command}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"weightswitch {args.command}: interrupted", file=sys.stderr)
        return 130
    except OSError as exc:  # a full or read-only disk, a file where a folder must go, ...
        print(f"weightswitch {args.command}: error: {os_error_text(exc)}", file=sys.stderr)
        return 1
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
