"""`weightswitch train`: one run of one method on one arch/dataset/seed.

Settings resolve as: params file recipe < archs[arch] < methods[method] < explicit flags
(< `--set key=value`). Without `--params`, the params are what conf/ composes with its
defaults (`--profile P`: with conf/profile/P.yaml, on the workspace's grid), so a bare
command trains what the pipeline trains. `--set` takes the keys of a params file, as
`weightswitch params` does (`recipe.epochs=3`, `methods.switcher.phase_length=2`), and the
keys of the run itself (`epochs=3`, `optimizer.lr=0.01`: above every params section);
`KEY=null` unsets a key. Re-running a finished run is a fast no-op; re-running a killed run
resumes from its last checkpoint.
"""

from __future__ import annotations

import argparse
import difflib
from typing import Any

from weightswitch.catalog import CATALOG
from weightswitch.errors import UsageError, unknown_choice

# (flags, config key, argparse kwargs). Defaults are SUPPRESSed: only flags actually given
# override the params file.
OPTIONS: list[tuple[tuple[str, ...], str, dict[str, Any]]] = [
    (("--seed",), "seed", {"type": int, "help": "random seed (default 0)"}),
    (("--epochs",), "epochs", {"type": int, "help": "training epochs (pruning: dense epochs)"}),
    (("--batch-size",), "batch_size", {"type": int}),
    (("--train-limit",), "train_limit", {"type": int, "help": "class-balanced training subset"}),
    (
        ("--eval-limit",),
        "eval_limit",
        {"type": int, "help": "class-balanced val and test subsets (default: whole splits)"},
    ),
    (("--eval-batch-size",), "eval_batch_size", {"type": int}),
    (
        ("--input-norm",),
        "input_norm",
        {
            "help": "reference ([0, 1] MNIST, reference mean/std "
            "CIFAR; default) | dataset (the dataset's mean/std) | none"
        },
    ),
    (
        ("--fc-init",),
        "fc_init",
        {
            "help": "switchable FC layers' init, every method alike: "
            "reference (N(0, 0.01), default) | pytorch (nn.Linear's own)"
        },
    ),
    (
        ("--fc-bias",),
        "fc_bias",
        {
            "action": argparse.BooleanOptionalAction,
            "help": "bias on the switchable FC layers (default off, as the reference)",
        },
    ),
    (("--device",), "device", {"help": "auto (cuda if available) | cpu | cuda[:N]"}),
    (("--amp",), "amp", {"help": "off | bf16 (autocast)"}),
    (
        ("--channels-last",),
        "channels_last",
        {"action": argparse.BooleanOptionalAction, "help": "NHWC for convnets (default on)"},
    ),
    (("--root",), "data_root", {"metavar": "DATA_DIR", "help": "prepared data (default data)"}),
    (
        ("--out",),
        "out",
        {
            "metavar": "DIR",
            "help": "run directory (default "
            "results/runs/<profile>/<dataset>-<arch>-<method>-s<seed>)",
        },
    ),
    (
        ("--experiment",),
        "experiment",
        {"help": "MLflow experiment (default weightswitch/<grid>/<profile>)"},
    ),
    (
        ("--mlflow",),
        "tracking",
        {"action": argparse.BooleanOptionalAction, "help": "log to MLflow (default on)"},
    ),
    (("--optimizer",), "optimizer.name", {"help": "sgd | adam | adamw"}),
    (("--lr",), "optimizer.lr", {"type": float}),
    (("--momentum",), "optimizer.momentum", {"type": float}),
    (("--weight-decay",), "optimizer.weight_decay", {"type": float}),
    (("--nesterov",), "optimizer.nesterov", {"action": argparse.BooleanOptionalAction}),
    (
        ("--grad-clip",),
        "optimizer.grad_clip",
        {"type": float, "help": "clip the gradient L2 norm before each step"},
    ),
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
    (
        ("--train-backbone-in-snn-phase",),
        "switcher.train_backbone_in_snn_phase",
        {"action": argparse.BooleanOptionalAction},
    ),
    (
        ("--train-snn-norm-in-tnn-phase",),
        "switcher.train_snn_norm_in_tnn_phase",
        {
            "action": argparse.BooleanOptionalAction,
            "help": "SNN BatchNorm affine params train in TNN phases too "
            "(default on, as the reference)",
        },
    ),
    (
        ("--gate-net",),
        "switcher.gate_net",
        {
            "help": "unet (the SNN) | free (a learnable score "
            "per gate, no SNN: the free-gates ablation)"
        },
    ),
    (
        ("--snn-input",),
        "switcher.snn_input",
        {
            "help": "weights | noise (a fixed random image "
            "of W's shape: the switcher-noise ablation)"
        },
    ),
    (
        ("--snn-compile",),
        "switcher.snn_compile",
        {
            "action": argparse.BooleanOptionalAction,
            "help": "torch.compile the SNN gate computation (default off; on in the paper profile)",
        },
    ),
    (("--snn-optimizer",), "switcher.snn_optimizer.name", {}),
    (("--snn-lr",), "switcher.snn_optimizer.lr", {"type": float}),
    (("--snn-momentum",), "switcher.snn_optimizer.momentum", {"type": float}),
    (("--snn-weight-decay",), "switcher.snn_optimizer.weight_decay", {"type": float}),
    (("--snn-grad-clip",), "switcher.snn_optimizer.grad_clip", {"type": float}),
    (("--sparsity",), "prune.sparsity", {"type": float, "help": "pruning target in [0, 1)"}),
    (
        ("--match",),
        "prune.match",
        {
            "metavar": "RUN_DIR",
            "help": "prune to the per-layer sparsity of this finished switcher run",
        },
    ),
    (
        ("--init-from",),
        "prune.init_from",
        {"metavar": "RUN_DIR", "help": "prune this finished dense run instead of training one"},
    ),
    (("--scope",), "prune.scope", {"help": "layer | global"}),
    (
        ("--finetune-epochs",),
        "prune.finetune_epochs",
        {"type": int, "help": "fine-tuning epochs (iterative: after each pruning step)"},
    ),
    (
        ("--prune-steps",),
        "prune.steps",
        {
            "type": int,
            "help": "pruning rounds on a geometric schedule (iterative; default 1: one-shot)",
        },
    ),
    (("--finetune-lr",), "prune.finetune_lr", {"type": float}),
    (
        ("--allocation",),
        "prune.allocation",
        {
            "help": "spread the FC sparsity over the layers: "
            "uniform (default) | output-denser (the output layer at --output-ratio x the target, "
            "the other layers share the rest; Han et al. 2015) | global (one ranking over all FC "
            "layers, as --scope global)"
        },
    ),
    (
        ("--output-ratio",),
        "prune.output_ratio",
        {
            "type": float,
            "help": "output-denser: the output layer's sparsity as a fraction of the target "
            "(default 0.8)",
        },
    ),
    (
        ("--finetune-schedule",),
        "prune.finetune_schedule.name",
        {
            "help": "constant (default) "
            "| cosine | multistep | plateau, counted in fine-tuning epochs"
        },
    ),
    (
        ("--finetune-milestones",),
        "prune.finetune_schedule.milestones",
        {"type": int, "nargs": "*", "metavar": "EPOCH", "help": "multistep: fine-tuning epochs"},
    ),
    (("--finetune-gamma",), "prune.finetune_schedule.gamma", {"type": float}),
    (("--finetune-min-lr",), "prune.finetune_schedule.min_lr", {"type": float}),
]
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


def _params(args: argparse.Namespace, profile: str | None) -> dict[str, Any]:
    """The params file, or what conf/ composes (with `profile`'s recipe when given)."""
    from weightswitch.config import load_params
    from weightswitch.params_cli import choices, default_params, find_conf_dir

    if not args.params:
        known = choices(find_conf_dir(), "profile")
        if profile is None or profile in known:
            return default_params(profile=profile)
        if difflib.get_close_matches(profile, known, n=1):  # a typo of a profile: say so
            raise unknown_choice("profile", profile, known)
        # no profile's name: a label on the workspace's recipe (as `--set profile=LABEL`)
        return {**default_params(), "profile": profile}
    params = load_params(args.params)
    if profile is not None and profile != params.get("profile"):
        raise UsageError(
            f"--profile {profile} is not the profile of {args.params} "
            f"({params.get('profile')}): drop --params to train {profile}'s recipe, or switch "
            f"the workspace: weightswitch params --profile {profile}"
        )
    return params


def _check_run_key(key: str) -> None:
    """A `--set` key that is neither a params file key nor a run key: the closest of both."""
    import dataclasses

    from weightswitch.config import RunConfig, unknown_key
    from weightswitch.params_cli import PARAMS_HEADS

    valid = {f.name for f in dataclasses.fields(RunConfig)}
    head = key.split(".")[0]
    if head not in valid:
        close = difflib.get_close_matches(head, sorted(valid | set(PARAMS_HEADS)), 1, 0.75)
        if close:
            raise UsageError(f"unknown key {key!r}; did you mean {close[0]!r}?")
        raise UsageError(unknown_key(key, valid))


def _unset(cfg: Any, keys: list[str]) -> Any:
    """`cfg` with the run keys `keys` set to None (`--set train_limit=null`), checked."""
    from weightswitch.config import config_from_json, validate
    from weightswitch.params_cli import set_dotted

    data = cfg.to_dict()
    for key in keys:
        set_dotted(data, key, None)
    cfg = config_from_json(data)
    validate(cfg)
    return cfg


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
    from weightswitch.config import build_config
    from weightswitch.errors import TrainingDiverged
    from weightswitch.params_cli import PARAMS_HEADS, apply_overrides
    from weightswitch.train.progress import grid_line
    from weightswitch.train.runner import train

    overrides = {k: v for k, v in vars(args).items() if k in KEYS}
    in_params: dict[str, Any] = {}
    for key, value in parse_set(args.set or []).items():
        # `profile`: the params file's label, not a recipe (that is --profile)
        if key == "profile" or key.split(".")[0] in PARAMS_HEADS:
            in_params[key] = value
        else:
            _check_run_key(key)
            overrides[key] = value
    profile = getattr(args, "profile", None)
    params = apply_overrides(_params(args, profile), in_params)
    cfg = build_config(args.arch, args.dataset, args.method, params, overrides)
    unset = [k for k, v in overrides.items() if v is None]
    if unset:
        cfg = _unset(cfg, unset)
    _check_names(cfg.arch, cfg.dataset)
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
    p.add_argument("--arch", required=True, help="lenet300 | lenet5 | resnet18 | ...")
    p.add_argument("--dataset", required=True, help="mnist | fashion_mnist | cifar10 | ...")
    p.add_argument(
        "--method",
        required=True,
        help=" | ".join(CATALOG) + " (src/weightswitch/catalog.py says what each is)",
    )
    p.add_argument(
        "--params",
        default=None,
        metavar="FILE",
        help="params.yaml (default: what conf/ composes, as the pipeline)",
    )
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
    p.add_argument(
        "--profile",
        metavar="P",
        help="train profile P's recipe (conf/profile/P.yaml on the workspace's grid); "
        "with --params, P must be that file's profile; a name that is no profile "
        "labels the workspace's recipe, as --set profile=LABEL",
    )
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a params file key (recipe.epochs=3, as `weightswitch params`) or a run "
        "key (schedule.name=cosine); KEY=null unsets (repeatable)",
    )
    group = p.add_argument_group("run settings (override the params file)")
    for flags, key, kwargs in OPTIONS:
        group.add_argument(*flags, dest=key, **kwargs)
    p.set_defaults(func=run)
    return p
