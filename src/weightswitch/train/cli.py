"""`weightswitch train`: one run of one method on one arch/dataset/seed.

Settings resolve as: params file recipe < archs[arch] < methods[method] < explicit flags
(< `--set key=value`). Without `--params`, the params are what conf/ composes with its
defaults (`--profile P`: with conf/profile/P.yaml, on the workspace's grid), so a bare
command trains what the pipeline trains. The settings flags are generated from the config's
schema and resolved by `config.resolve` (docs/architecture.md, "Settings"). Re-running a
finished run is a fast no-op; re-running a killed run resumes from its last checkpoint.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from weightswitch.config import ParamsSource, add_settings_flags
from weightswitch.options import add_options, option, read_options


@dataclass(frozen=True)
class TrainCommand:
    """`train`'s own options, beside the run's settings (`config.flags`)."""

    force: bool = option(
        "discard existing outputs/checkpoint and train from scratch", default=False
    )
    diverged_ok: bool = option(
        "a divergence is this run's result: record it (diverged.json) and "
        "exit 0, so one diverging seed does not stop a grid (the pipeline's stages; "
        "the report counts it)",
        default=False,
    )
    print_config: bool = option("print the resolved run config as JSON and exit", default=False)
    checkpoint_dir: str | None = option(
        "keep checkpoints here while training, outside the run directory "
        "(the pipeline: survives DVC's removal of a stage's outputs)",
        default=None,
        metavar="DIR",
    )


def run(args: argparse.Namespace) -> int:
    from weightswitch.config import resolve
    from weightswitch.errors import TrainingDiverged
    from weightswitch.train.progress import grid_line
    from weightswitch.train.runner import train

    command = read_options(args, TrainCommand)
    cfg, params = resolve(args)
    if command.print_config:
        print(cfg.to_json())
        return 0
    given_params = read_options(args, ParamsSource).params
    line = grid_line(params, cfg) if given_params else None  # only for a grid's stages
    if line:
        print(line, flush=True)
    try:
        train(cfg, force=command.force, checkpoint_dir=command.checkpoint_dir)
    except TrainingDiverged as exc:
        if not command.diverged_ok:
            raise
        print(f"{cfg.out or '.'}: diverged; recorded as this run's result ({exc})", flush=True)
    return 0


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "train",
        help="train one run of any method of the catalog (dense, the switcher and its "
        "ablations, pruning)",
        description=__doc__.splitlines()[0],
        argument_default=argparse.SUPPRESS,
    )
    add_settings_flags(p)
    add_options(p, TrainCommand)
    p.set_defaults(func=run)
    return p
