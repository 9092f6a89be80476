"""`weightswitch bench data|train|export`: timings behind the suite's speed claims.

Each target lives in `weightswitch.bench.<target>` with `Options` (a dataclass: its flags)
and `run(options)`. Targets are imported only when chosen, so `weightswitch --help` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
from dataclasses import dataclass

from weightswitch.cli import CompactParser
from weightswitch.errors import unknown_choice
from weightswitch.options import add_options, option, parse_options, read_options

TARGETS: dict[str, str] = {
    "data": "our batch iterator vs torchvision's DataLoader pipeline",
    "train": "seconds per epoch: dense vs switcher, and our loop vs a plain PyTorch loop",
    "export": "dense vs exported switched model: size and inference latency",
    "snn": "switcher step: speed options on (default) vs off (eager), per phase; --breakdown",
}


@dataclass(frozen=True)
class BenchOptions:
    """`bench`'s options: the target, and the target's own options (parsed by the target)."""

    target: str = option(", ".join(TARGETS), positional=True, metavar="TARGET")
    rest: list[str] = option(
        argparse.SUPPRESS, default_factory=list, positional=True, nargs=argparse.REMAINDER
    )


def run(args: argparse.Namespace) -> int:
    bench = read_options(args, BenchOptions)
    name = bench.target
    if name not in TARGETS:
        raise unknown_choice("bench target", name, TARGETS)
    module = importlib.import_module(f"weightswitch.bench.{name}")
    # like every sub-command: a mistyped option gets the short error, not pages of usage
    parser = CompactParser(
        prog=f"weightswitch bench {name}", description=(module.__doc__ or TARGETS[name])
    )
    return int(module.run(parse_options(parser, module.Options, bench.rest)) or 0)


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    targets = "\n".join(f"  {k:<8} {v}" for k, v in TARGETS.items())
    p = subparsers.add_parser(
        "bench",
        help="timing benchmarks (data, train, export, snn)",
        description=f"Timing benchmarks. Targets:\n{targets}\n\n"
        "Options of a target: weightswitch bench TARGET --help",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_options(p, BenchOptions)
    p.set_defaults(func=run)
    return p
