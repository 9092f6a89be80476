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

from weightswitch.config import add_settings_flags


def run(args: argparse.Namespace) -> int:
    from weightswitch.config import resolve
    from weightswitch.errors import TrainingDiverged
    from weightswitch.train.progress import grid_line
    from weightswitch.train.runner import train

    cfg, params = resolve(args)
    if args.print_config:
        print(cfg.to_json())
        return 0
    line = grid_line(params, cfg) if args.params else None  # only for a grid's stages
    if line:
        print(line, flush=True)
    try:
        train(cfg, force=args.force, checkpoint_dir=args.checkpoint_dir)
    except TrainingDiverged as exc:
        if not args.diverged_ok:
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
    p.add_argument(
        "--force",
        action="store_true",
        default=False,
        help="discard existing outputs/checkpoint and train from scratch",
    )
    p.add_argument(
        "--diverged-ok",
        action="store_true",
        default=False,
        help="a divergence is this run's result: record it (diverged.json) and "
        "exit 0, so one diverging seed does not stop a grid (the pipeline's stages; "
        "the report counts it)",
    )
    p.add_argument(
        "--print-config",
        action="store_true",
        default=False,
        help="print the resolved run config as JSON and exit",
    )
    p.add_argument(
        "--checkpoint-dir",
        default=None,
        metavar="DIR",
        help="keep checkpoints here while training, outside the run directory "
        "(the pipeline: survives DVC's removal of a stage's outputs)",
    )
    p.set_defaults(func=run)
    return p
