"""The typed run configuration (OpenLTH style): one dataclass field per setting, its help text
and its command-line spelling beside it.

One resolved `RunConfig` describes a run completely: it is saved with the run as
config.json, logged to MLflow as flattened params, and its `fingerprint()` is the run's
semantic identity. `train`'s flags are generated from these fields (`config.flags`), so a
setting is declared here once: name, type, default, help.

Field metadata (read by `config.flags` and `config.validate`):
`help` (its `{choices}` is filled with the valid choices), `choices` (checked by `validate`,
named `kind` in the message), `flag` (the flag's name without `--` where it is not the field's
name; None: no flag), `metavar`, `required`, and, on a section (a nested dataclass), `prefix`
(put before its fields' flags, whose help then starts with the section's) and `flags` (the
only fields of the section that get one). A section's `name` field takes the section's own
flag (`--optimizer`, `--snn-optimizer`).
"""

from __future__ import annotations

import copy
import dataclasses
import json
from dataclasses import MISSING, dataclass
from typing import Any

# The methods and the switcher variants' choices: one catalog (weightswitch.catalog).
from weightswitch.catalog import FC_INITS, GATE_NETS, GRANULARITIES, METHODS, SNN_INPUTS
from weightswitch.config.tree import deep_merge
from weightswitch.data.registry import INPUT_NORMS

OPTIMIZERS: tuple[str, ...] = ("sgd", "adam", "adamw")
SCHEDULES: tuple[str, ...] = ("multistep", "plateau", "cosine", "constant")
PHASE_UNITS: tuple[str, ...] = ("epoch", "step")
SCOPES: tuple[str, ...] = ("layer", "global")
ALLOCATIONS: tuple[str, ...] = ("uniform", "output-denser", "global")
AMP_MODES: tuple[str, ...] = ("off", "bf16")
DEVICES: tuple[str, ...] = ("auto", "cpu", "cuda")
DEFAULT_PROFILE = "default"
# Fields that change where/how a run is stored or watched, not what it computes: a
# checkpoint may be resumed (and a finished run recognised) across changes to these.
NON_SEMANTIC: frozenset[str] = frozenset(
    {"out", "experiment", "grid", "data_root", "device", "tracking"}
)


def setting(default: Any = MISSING, help: str = "", *, factory: Any = MISSING, **meta: Any) -> Any:
    """A dataclass field with its help text (and flag spelling, choices, file key) in its
    metadata."""
    return dataclasses.field(
        default=default, default_factory=factory, metadata={"help": help, **meta}
    )


def file_key(f: dataclasses.Field) -> str:
    """A field's name in config.json, params files, `--set` and a run's identity: `key` in
    its metadata where the code's name says more than the recorded one (a rename in code
    must not change the identity of every finished run)."""
    return f.metadata.get("key", f.name)


def as_dict(value: Any) -> Any:
    """`dataclasses.asdict` under each field's file key."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {file_key(f): as_dict(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, list | tuple):
        return type(value)(as_dict(v) for v in value)
    if isinstance(value, dict):
        return {k: as_dict(v) for k, v in value.items()}
    return copy.deepcopy(value)


@dataclass
class OptimizerConfig:
    """The reference has no gradient clipping, and neither does any default here: clipping is
    only an option (docs/method.md, "Reference vs this suite")."""

    name: str = setting("sgd", "{choices}", choices=OPTIMIZERS)
    lr: float = setting(0.1, "learning rate")
    momentum: float = setting(0.0, "momentum")
    weight_decay: float = setting(0.0, "L2 weight decay")
    nesterov: bool = setting(False, "Nesterov momentum (sgd with momentum > 0)")
    grad_clip: float | None = setting(
        None, "clip the gradient L2 norm before each step (default: no clipping)"
    )


@dataclass
class ScheduleConfig:
    """Learning-rate schedule, stepped once per epoch.

    `plateau` watches the epoch's training loss (the reference's choice: no test data);
    `stop_lr` ends training early once the lr falls below it (the reference's CIFAR
    rule "until lr < 5e-3")."""

    name: str = setting("constant", "{choices}", choices=SCHEDULES)
    milestones: list[int] = setting(
        help="multistep: the epochs at which the lr is multiplied by gamma",
        factory=list,
        metavar="EPOCH",
    )
    gamma: float = setting(0.1, "multistep: lr factor at each milestone")
    patience: int = setting(20, "plateau: epochs without improvement before the lr drops")
    factor: float = setting(0.1, "plateau: lr factor of a drop")
    min_lr: float = setting(0.0, "plateau, cosine: the lowest lr")
    stop_lr: float | None = setting(None, "stop once lr < this")


@dataclass
class SwitcherConfig:
    """Alternating TNN/SNN training (docs/design.md, "Alternating training").

    `snn_schedule` None reuses the run's TNN schedule. The switched FC weights' init is the
    run's `fc_init` (shared by every method of a pair: same start).
    `train_snn_norm_in_tnn_phase`: the affine parameters of the SNNs' BatchNorms train in TNN
    phases too, as in the reference (its optimisers span every parameter; only the SNN's conv
    kernels are frozen there). False is the "frozen-normalisation" variant, which diverges at
    the reference lr without clipping (studies/switcher_divergence.py).

    Ablations (issue 12; docs/method.md, "Ablations"): `gate_net` "unet" is the SNN, "free"
    replaces it by one learnable score per gate followed by the SNN head's final
    normalisation + ReLU; `snn_input` "noise" feeds the SNN a fixed random image of W's shape
    (drawn from the run's seed, with the std of W's initial values) instead of W.

    `snn_compile` is speed only, same gates and gradients up to float rounding (docs/
    notebook.md, "Switcher speed"): the training gates come from torch.compile'd SNNs (eager
    fallback, said once, where unavailable); on in the `paper` profile, as compiling pays off
    only in long runs."""

    granularity: str = setting(
        "connection",
        "one gate per connection or per input neuron (the method fixes it)",
        choices=GRANULARITIES,
        flag=None,
    )
    gate_net: str = setting(
        "unet",
        "unet (the SNN) | free (a learnable score per gate, no SNN: the free-gates ablation)",
        choices=GATE_NETS,
    )
    snn_input: str = setting(
        "weights",
        "weights | noise (a fixed random image of W's shape: the switcher-noise ablation)",
        choices=SNN_INPUTS,
    )
    phase_unit: str = setting(
        "epoch", "an alternation phase counts: {choices}", choices=PHASE_UNITS, kind="phase unit"
    )
    phase_length: int = setting(1, "phase length, in phase units")
    warmup_epochs: int = setting(0, "dense epochs before the alternation starts")
    train_backbone_in_snn_phase: bool = setting(
        True, "the non-switched layers train in SNN phases too (default on)"
    )
    train_snn_norm_in_tnn_phase: bool = setting(
        True, "SNN BatchNorm affine params train in TNN phases too (default on, as the reference)"
    )
    snn_optimizer: OptimizerConfig = setting(
        help="the SNN's optimiser",
        factory=OptimizerConfig,
        prefix="snn-",
        flags=("name", "lr", "momentum", "weight_decay", "grad_clip"),
    )
    snn_schedule: ScheduleConfig | None = setting(
        None, "the SNN's lr schedule (null: the run's)", flags=()
    )
    snn_compile: bool = setting(
        False, "torch.compile the SNN gate computation (default off; on in the paper profile)"
    )


@dataclass
class PruneConfig:
    """Pruning baselines and gate-ranked pruning (docs/design.md, "Baselines").

    Target: `sparsity` (the FC layers' sparsity) or `match`, a finished switcher run whose
    per-layer sparsity is copied. `init_from` is the finished run whose final weights are
    pruned: a dense run (otherwise a dense model is trained first for `epochs`), or, for the
    gate-ranked methods, the connection-gated run of the catalog's `parent` (its effective
    weights W·G are pruned, ranked by its gates).

    `allocation` spreads `sparsity` over the FC layers (docs/method.md, "Pruning options").
    `scope` is the older spelling of the same choice: scope "global" is stored as
    allocation "global" (one notion of global, one identity).

    Fine-tuning runs `finetune_epochs` at `finetune_lr` (None: the lr the parent's training
    ended at) on `finetune_schedule`, whose epochs count from the start of each fine-tuning
    (cosine: over `finetune_epochs`; multistep: milestones in fine-tuning epochs); the default
    is a constant lr.

    `steps` > 1 (method `iterative`, Han et al. 2015): prune in `steps` rounds on a geometric
    schedule (the kept fraction shrinks by the same factor each round) to the same end point,
    each round followed by `finetune_epochs` of fine-tuning (the schedule restarts each round);
    `criterion` ranks the connections (recorded as `method`, its name in every finished run's
    config and identity)."""

    criterion: str = setting(
        "magnitude", "the pruning criterion (the method fixes it)", flag=None, key="method"
    )
    steps: int = setting(
        1,
        "pruning rounds on a geometric schedule (iterative; default 1: one-shot)",
        flag="prune-steps",
    )
    scope: str = setting("layer", "layer | global", choices=SCOPES, kind="prune scope")
    sparsity: float | None = setting(None, "pruning target in [0, 1)")
    match: str | None = setting(
        None, "prune to the per-layer sparsity of this finished switcher run", metavar="RUN_DIR"
    )
    init_from: str | None = setting(
        None, "prune this finished dense run instead of training one", metavar="RUN_DIR"
    )
    finetune_epochs: int = setting(0, "fine-tuning epochs (iterative: after each pruning step)")
    finetune_lr: float | None = setting(
        None, "fine-tuning lr (default: the lr the parent's training ended at)"
    )
    allocation: str = setting(
        "uniform",
        "spread the FC sparsity over the layers: uniform (default) | output-denser (the output "
        "layer at --output-ratio x the target, the other layers share the rest; Han et al. "
        "2015) | global (one ranking over all FC layers, as --scope global)",
        choices=ALLOCATIONS,
        kind="prune allocation",
    )
    output_ratio: float = setting(
        0.8, "output-denser: the output layer's sparsity as a fraction of the target"
    )
    finetune_schedule: ScheduleConfig = setting(
        help="fine-tuning's lr schedule, in fine-tuning epochs (default constant)",
        factory=ScheduleConfig,
        prefix="finetune-",
        flags=("name", "milestones", "gamma", "min_lr"),
    )

    def __post_init__(self) -> None:
        if self.scope == "global" and self.allocation in ("uniform", "global"):
            self.scope, self.allocation = "layer", "global"


@dataclass
class RunConfig:
    arch: str = setting(help="lenet300 | lenet5 | resnet18 | ...", required=True)
    dataset: str = setting(help="mnist | fashion_mnist | cifar10 | ...", required=True)
    method: str = setting(
        help="{choices} (src/weightswitch/catalog.py says what each is)",
        choices=METHODS,
        required=True,
    )
    seed: int = setting(0, "random seed (default 0)")
    epochs: int = setting(1, "training epochs (pruning: dense epochs)")
    batch_size: int = setting(64, "training batch size")
    train_limit: int | None = setting(
        None, "class-balanced training subset, the same for every seed and method"
    )
    eval_limit: int | None = setting(
        None,
        "class-balanced val and test subsets (default: whole splits; reduced-budget profiles "
        "on CPU; recorded per run)",
    )
    eval_batch_size: int = setting(1000, "evaluation batch size")
    input_norm: str = setting(
        "reference",
        "reference ([0, 1] MNIST, reference mean/std CIFAR; default) | dataset (the dataset's "
        "mean/std) | none",
        choices=INPUT_NORMS,
        kind="input normalisation",
    )
    fc_bias: bool = setting(
        False, "bias on the switchable FC layers (default off, as the reference)"
    )
    fc_init: str = setting(
        "reference",
        "switchable FC layers' init, every method alike (compared methods share their start): "
        "reference (N(0, 0.01), b = 0, the reference switcher's; default) | pytorch "
        "(nn.Linear's own)",
        choices=FC_INITS,
    )
    device: str = setting("auto", "auto (cuda if available) | cpu | cuda[:N]")
    amp: str = setting("off", "off | bf16 (autocast)", choices=AMP_MODES, kind="amp mode")
    channels_last: bool | None = setting(None, "NHWC for convnets (default on, CPU and CUDA)")
    data_root: str = setting(
        "data", "prepared data (default data)", flag="root", metavar="DATA_DIR"
    )
    out: str | None = setting(
        None,
        "run directory (default results/runs/<profile>/<dataset>-<arch>-<method>-s<seed>)",
        metavar="DIR",
    )
    profile: str = setting(
        DEFAULT_PROFILE,
        "train profile P's recipe (conf/profile/P.yaml on the workspace's grid); with "
        "--params, P must be that file's profile; a name that is no profile labels the "
        "workspace's recipe, as --set profile=LABEL",
        metavar="P",
    )
    grid: str | None = setting(None, "the params grid this run belongs to (labels only)", flag=None)
    experiment: str | None = setting(
        None, "MLflow experiment (default weightswitch/<grid>/<profile>)"
    )
    tracking: bool = setting(True, "log to MLflow (default on)", flag="mlflow")
    model: dict[str, Any] = setting(
        help="the arch's keyword arguments (e.g. vgg16's head_width)", factory=dict, flag=None
    )
    optimizer: OptimizerConfig = setting(help="the optimiser", factory=OptimizerConfig)
    schedule: ScheduleConfig = setting(help="the lr schedule", factory=ScheduleConfig)
    switcher: SwitcherConfig | None = setting(None, "switcher methods' settings")
    prune: PruneConfig | None = setting(None, "pruning methods' settings")

    @property
    def run_name(self) -> str:
        return f"{self.dataset}-{self.arch}-{self.method}-s{self.seed}"

    def to_dict(self) -> dict[str, Any]:
        return as_dict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    def fingerprint(self) -> dict[str, Any]:
        """The part of the config that determines the results (see NON_SEMANTIC), as the
        fields that differ from their defaults (OpenLTH): a new field whose default changes
        nothing leaves every existing run's identity intact."""
        semantic = {k: v for k, v in self.to_dict().items() if k not in NON_SEMANTIC}
        return _differences(semantic, _DEFAULTS)


def _differences(value: dict[str, Any], default: dict[str, Any]) -> dict[str, Any]:
    """The entries of `value` that differ from `default`, recursively (nested sections that
    end up equal to their defaults vanish)."""
    out: dict[str, Any] = {}
    for key, item in value.items():
        base = default.get(key, _MISSING)
        if isinstance(item, dict) and isinstance(base, dict) and item is not base:
            diff = _differences(item, base)
            if diff:
                out[key] = diff
        elif item != base:
            out[key] = item
    return out


_MISSING = object()
# Every field at its default; the sections a method may have are compared with their own
# defaults (a switcher run's all-default switcher section contributes nothing).
_DEFAULTS: dict[str, Any] = {
    **as_dict(RunConfig(arch="", dataset="", method="")),
    "switcher": as_dict(SwitcherConfig()),
    "prune": as_dict(PruneConfig()),
}


def expand(fingerprint: dict[str, Any]) -> dict[str, Any]:
    """A `fingerprint()` with its defaults filled back in (to say what differs, in words)."""
    return deep_merge(_DEFAULTS, fingerprint)


def field_names(cls: type) -> set[str]:
    return {file_key(f) for f in dataclasses.fields(cls)}


RUN_KEYS = field_names(RunConfig) - {"switcher", "prune", "model"}
SWITCHER_KEYS = field_names(SwitcherConfig)
PRUNE_KEYS = field_names(PruneConfig)
# keys a recipe / archs.<arch> / methods.<method> section may hold (besides model options)
SECTION_KEYS = (
    (RUN_KEYS - {"arch", "dataset", "method", "out"})
    | SWITCHER_KEYS
    | PRUNE_KEYS
    | {"switcher", "prune", "model"}
)
