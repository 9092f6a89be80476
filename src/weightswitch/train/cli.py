"""`weightswitch train`: one run of one method on one arch/dataset/seed.

Settings resolve as: params file recipe < archs[arch] < methods[method] < explicit flags
(< `--set key=value`, which reaches any config key). Re-running a finished run is a fast
no-op; re-running a killed run resumes from its last checkpoint.
"""

from __future__ import annotations

import argparse
from typing import Any

from weightswitch.errors import UsageError

# (flags, config key, argparse kwargs). Defaults are SUPPRESSed: only flags actually given
# override the params file.
OPTIONS: list[tuple[tuple[str, ...], str, dict[str, Any]]] = [
    (("--seed",), "seed", {"type": int, "help": "random seed (default 0)"}),
    (("--epochs",), "epochs", {"type": int, "help": "training epochs (pruning: dense epochs)"}),
    (("--batch-size",), "batch_size", {"type": int}),
    (("--train-limit",), "train_limit", {"type": int, "help": "class-balanced training subset"}),
    (("--eval-limit",), "eval_limit", {"type": int,
     "help": "class-balanced val and test subsets (default: whole splits)"}),
    (("--eval-batch-size",), "eval_batch_size", {"type": int}),
    (("--device",), "device", {"help": "auto (cuda if available) | cpu | cuda[:N]"}),
    (("--amp",), "amp", {"help": "off | bf16 (autocast)"}),
    (("--channels-last",), "channels_last",
     {"action": argparse.BooleanOptionalAction, "help": "NHWC for convnets (default on)"}),
    (("--root",), "data_root", {"metavar": "DATA_DIR", "help": "prepared data (default data)"}),
    (("--out",), "out", {"metavar": "DIR",
     "help": "run directory (default results/runs/<profile>/<dataset>-<arch>-<method>-s<seed>)"}),
    (("--profile",), "profile", {"help": "label stamped on every output"}),
    (("--experiment",), "experiment", {"help": "MLflow experiment (default weightswitch)"}),
    (("--mlflow",), "tracking", {"action": argparse.BooleanOptionalAction,
                                 "help": "log to MLflow (default on)"}),
    (("--optimizer",), "optimizer.name", {"help": "sgd | adam | adamw"}),
    (("--lr",), "optimizer.lr", {"type": float}),
    (("--momentum",), "optimizer.momentum", {"type": float}),
    (("--weight-decay",), "optimizer.weight_decay", {"type": float}),
    (("--nesterov",), "optimizer.nesterov", {"action": argparse.BooleanOptionalAction}),
    (("--grad-clip",), "optimizer.grad_clip", {"type": float,
     "help": "clip the gradient L2 norm before each step"}),
    (("--schedule",), "schedule.name", {"help": "multistep | plateau | cosine | constant"}),
    (("--milestones",), "schedule.milestones", {"type": int, "nargs": "*", "metavar": "EPOCH"}),
    (("--gamma",), "schedule.gamma", {"type": float}),
    (("--patience",), "schedule.patience", {"type": int}),
    (("--factor",), "schedule.factor", {"type": float}),
    (("--min-lr",), "schedule.min_lr", {"type": float}),
    (("--stop-lr",), "schedule.stop_lr", {"type": float, "help": "stop once lr < this"}),
    (("--phase-unit",), "switcher.phase_unit", {"help": "epoch | step"}),
    (("--phase-length",), "switcher.phase_length", {"type": int}),
    (("--warmup-epochs",), "switcher.warmup_epochs", {"type": int}),
    (("--train-backbone-in-snn-phase",), "switcher.train_backbone_in_snn_phase",
     {"action": argparse.BooleanOptionalAction}),
    (("--reference-init",), "switcher.reference_init", {"action": argparse.BooleanOptionalAction,
     "help": "switched FC weights ~ N(0, 0.01), as the reference (default on)"}),
    (("--snn-optimizer",), "switcher.snn_optimizer.name", {}),
    (("--snn-lr",), "switcher.snn_optimizer.lr", {"type": float}),
    (("--snn-momentum",), "switcher.snn_optimizer.momentum", {"type": float}),
    (("--snn-weight-decay",), "switcher.snn_optimizer.weight_decay", {"type": float}),
    (("--snn-grad-clip",), "switcher.snn_optimizer.grad_clip", {"type": float}),
    (("--sparsity",), "prune.sparsity", {"type": float, "help": "pruning target in [0, 1)"}),
    (("--match",), "prune.match", {"metavar": "RUN_DIR",
     "help": "prune to the per-layer sparsity of this finished switcher run"}),
    (("--init-from",), "prune.init_from", {"metavar": "RUN_DIR",
     "help": "prune this finished dense run instead of training one"}),
    (("--scope",), "prune.scope", {"help": "layer | global"}),
    (("--finetune-epochs",), "prune.finetune_epochs", {"type": int}),
    (("--finetune-lr",), "prune.finetune_lr", {"type": float}),
]  # fmt: skip
KEYS = {key for _, key, _ in OPTIONS}


def parse_set(items: list[str]) -> dict[str, Any]:
    import yaml

    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"--set expects KEY=VALUE, got {item!r}")
        try:
            out[key.strip()] = yaml.safe_load(value)
        except yaml.YAMLError:
            out[key.strip()] = value
    return out


def _check_names(arch: str, dataset: str) -> None:
    """Fail on a bad arch/dataset before any data is read."""
    from weightswitch.data import get_spec
    from weightswitch.models import get_arch

    get_spec(dataset)
    spec = get_arch(arch)
    if dataset not in spec.datasets:
        raise UsageError(
            f"arch {arch!r} does not fit dataset {dataset!r}; "
            f"{arch} works with: {', '.join(spec.datasets)}"
        )


def run(args: argparse.Namespace) -> int:
    from weightswitch.config import build_config, load_params
    from weightswitch.train.runner import train

    overrides = {k: v for k, v in vars(args).items() if k in KEYS}
    overrides.update(parse_set(args.set or []))
    params = load_params(args.params) if args.params else None
    cfg = build_config(args.arch, args.dataset, args.method, params, overrides)
    _check_names(cfg.arch, cfg.dataset)
    train(cfg, force=args.force, checkpoint_dir=args.checkpoint_dir)
    return 0


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "train",
        help="train one run (dense, switcher, switcher-neuron, magnitude, random)",
        description=__doc__.splitlines()[0],
        argument_default=argparse.SUPPRESS,
    )
    p.add_argument("--arch", required=True, help="lenet300 | lenet5 | resnet18 | ...")
    p.add_argument("--dataset", required=True, help="mnist | fashion_mnist | cifar10 | ...")
    p.add_argument(
        "--method", required=True, help="dense | switcher | switcher-neuron | magnitude | random"
    )
    p.add_argument("--params", default=None, metavar="FILE", help="params.yaml (profile recipe)")
    p.add_argument("--force", action="store_true", default=False,
                   help="discard existing outputs/checkpoint and train from scratch")  # fmt: skip
    p.add_argument("--checkpoint-dir", default=None, metavar="DIR",
                   help="keep checkpoints here while training, outside the run directory "
                   "(the pipeline: survives DVC's removal of a stage's outputs)")  # fmt: skip
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="any config key, e.g. --set schedule.name=cosine (repeatable)")  # fmt: skip
    group = p.add_argument_group("run settings (override the params file)")
    for flags, key, kwargs in OPTIONS:
        group.add_argument(*flags, dest=key, **kwargs)
    p.set_defaults(func=run)
    return p
