"""`weightswitch` command line: the only entry point the DVC pipeline calls.

Each sub-command lives next to the code it drives and registers itself through
`add_parser(subparsers)`; this module only dispatches and turns
`WeightswitchError` into a one-line message with the right exit code.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from weightswitch.errors import WeightswitchError

# (module, attribute) pairs; each module defines add_parser(subparsers) -> parser with
# `set_defaults(func=...)`. Imported lazily so `weightswitch --help` stays fast.
COMMANDS: list[str] = [
    "weightswitch.data.cli",
    "weightswitch.train.cli",
    "weightswitch.report.cli",
    "weightswitch.params_cli",
    "weightswitch.bench.cli",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="weightswitch",
        description="Switcher-network sparsification benchmark: fetch, train, report, bench.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:  # a sub-command not written yet
            if exc.name != name:
                raise
            continue
        module.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        result = args.func(args)
    except WeightswitchError as exc:
        print(f"weightswitch {args.command}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"weightswitch {args.command}: interrupted", file=sys.stderr)
        return 130
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
