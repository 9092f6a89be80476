"""Typed run configuration (OpenLTH style), built from a params file plus CLI overrides.

One resolved `RunConfig` describes a run completely: it is saved with the run as
config.json, logged to MLflow as flattened params, and compared on resume so a checkpoint
is never continued under different settings.

Params file layout (what `dvc.yaml` passes with `--params params.yaml`)::

    profile: quick
    data: {root: data}
    recipe: {epochs: 4, batch_size: 64, optimizer: {...}, schedule: {...}}
    archs: {vgg16: {batch_size: 128, head_width: 512}}
    methods: {switcher: {granularity: connection, ...}, magnitude: {finetune_epochs: 2}}

Precedence: recipe < archs[arch] < methods[method] < explicit CLI flags. Keys at any level
may be run keys, switcher keys or pruning keys (a key that does not apply to the method is
ignored); any other key is a keyword argument of the model (e.g. vgg16's `head_width`).
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import json
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# The methods, their switcher variants and pruning criteria: one catalog (weightswitch.catalog).
from weightswitch.catalog import (
    METHODS,
    PRUNE_ALLOCATIONS,
    PRUNE_CRITERIA,
    PRUNE_METHODS,
    SWITCHER_METHODS,
    SWITCHER_VARIANTS,
)
from weightswitch.data.registry import INPUT_NORMS
from weightswitch.errors import UsageError, unknown_choice, yaml_error_text

GATE_NETS: tuple[str, ...] = ("unet", "free")
SNN_INPUTS: tuple[str, ...] = ("weights", "noise")
OPTIMIZERS: tuple[str, ...] = ("sgd", "adam", "adamw")
SCHEDULES: tuple[str, ...] = ("multistep", "plateau", "cosine", "constant")
GRANULARITIES: tuple[str, ...] = ("connection", "neuron")
PHASE_UNITS: tuple[str, ...] = ("epoch", "step")
SCOPES: tuple[str, ...] = ("layer", "global")
ALLOCATIONS: tuple[str, ...] = ("uniform", "output-denser", "global")
AMP_MODES: tuple[str, ...] = ("off", "bf16")
FC_INITS: tuple[str, ...] = ("reference", "pytorch")
DEVICES: tuple[str, ...] = ("auto", "cpu", "cuda")
DEFAULT_PROFILE = "default"
# Fields that change where/how a run is stored or watched, not what it computes: a
# checkpoint may be resumed (and a finished run recognised) across changes to these.
NON_SEMANTIC: frozenset[str] = frozenset(
    {"out", "experiment", "grid", "data_root", "device", "tracking"}
)


@dataclass
class OptimizerConfig:
    """`grad_clip`: clip the L2 norm of this optimiser's gradient before each step (None: off).

    The reference has no clipping, and neither does any default here: clipping is only an
    option (docs/method.md, "Reference vs this suite")."""

    name: str = "sgd"
    lr: float = 0.1
    momentum: float = 0.0
    weight_decay: float = 0.0
    nesterov: bool = False
    grad_clip: float | None = None


@dataclass
class ScheduleConfig:
    """Learning-rate schedule, stepped once per epoch.

    `plateau` watches the epoch's training loss (the reference's choice: no test data);
    `stop_lr` ends training early once the lr falls below it (the reference's CIFAR
    rule "until lr < 5e-3")."""

    name: str = "constant"
    milestones: list[int] = field(default_factory=list)
    gamma: float = 0.1
    patience: int = 20
    factor: float = 0.1
    min_lr: float = 0.0
    stop_lr: float | None = None


@dataclass
class SwitcherConfig:
    """Alternating TNN/SNN training (docs/design.md, "Alternating training").

    `snn_schedule` None reuses the run's TNN schedule. The switched FC weights' init is the
    run's `fc_init` (shared by every method of a pair: same start).
    `train_snn_norm_in_tnn_phase`: the affine parameters of the SNNs' BatchNorms train in TNN
    phases too, as in the reference (its optimisers span every parameter; only the SNN's conv
    kernels are frozen there). False is the "frozen-normalisation" variant, which diverges at
    the reference lr without clipping (benchmarks/switcher_divergence.py).

    Ablations (issue 12; docs/method.md, "Ablations"): `gate_net` "unet" is the SNN, "free"
    replaces it by one learnable score per gate followed by the SNN head's final
    normalisation + ReLU; `snn_input` "noise" feeds the SNN a fixed random image of W's shape
    (drawn from the run's seed, with the std of W's initial values) instead of W."""

    granularity: str = "connection"
    gate_net: str = "unet"
    snn_input: str = "weights"
    phase_unit: str = "epoch"
    phase_length: int = 1
    warmup_epochs: int = 0
    train_backbone_in_snn_phase: bool = True
    train_snn_norm_in_tnn_phase: bool = True
    snn_optimizer: OptimizerConfig = field(default_factory=OptimizerConfig)
    snn_schedule: ScheduleConfig | None = None
    # Speed, same gates and gradients up to float rounding (docs/notebook.md, "Switcher
    # speed"): the
    # training gates come from torch.compile'd SNNs (eager fallback, said once, where
    # unavailable). False: plain eager PyTorch.
    snn_compile: bool = False  # on in the `paper` profile: compiling pays off only in long runs


@dataclass
class PruneConfig:
    """Pruning baselines and gate-ranked pruning (docs/design.md, "Baselines").

    Target: `sparsity` (the FC layers' sparsity) or `match`, a finished switcher run whose
    per-layer sparsity is copied. `init_from` is the finished run whose final weights are
    pruned: a dense run (otherwise a dense model is trained first for `epochs`), or, for the
    gate-ranked methods, the connection-gated run of the catalog's `parent` (its effective
    weights W·G are pruned, ranked by its gates).

    `allocation` spreads `sparsity` over the FC layers (docs/method.md, "Pruning options"):
    "uniform" (every layer at `sparsity`), "output-denser" (the output layer at
    `output_ratio` x `sparsity`, the other layers share the rest so that the FC layers
    together reach `sparsity`; Han et al. 2015) or "global" (one ranking over all FC layers
    together). `scope` is the older spelling of the same choice: scope "global" is stored as
    allocation "global" (one notion of global, one identity).

    Fine-tuning runs `finetune_epochs` at `finetune_lr` (None: the lr the parent's training
    ended at) on `finetune_schedule`, whose epochs count from the start of each fine-tuning
    (cosine: over `finetune_epochs`; multistep: milestones in fine-tuning epochs); the default
    is a constant lr.

    `steps` > 1 (method `iterative`, Han et al. 2015): prune in `steps` rounds on a geometric
    schedule (the kept fraction shrinks by the same factor each round) to the same end point,
    each round followed by `finetune_epochs` of fine-tuning (the schedule restarts each round);
    `method` is the criterion."""

    method: str = "magnitude"
    steps: int = 1
    scope: str = "layer"
    sparsity: float | None = None
    match: str | None = None
    init_from: str | None = None
    finetune_epochs: int = 0
    finetune_lr: float | None = None
    allocation: str = "uniform"
    output_ratio: float = 0.8
    finetune_schedule: ScheduleConfig = field(default_factory=ScheduleConfig)

    def __post_init__(self) -> None:
        if self.scope == "global" and self.allocation in ("uniform", "global"):
            self.scope, self.allocation = "layer", "global"


@dataclass
class RunConfig:
    arch: str
    dataset: str
    method: str
    seed: int = 0
    epochs: int = 1
    batch_size: int = 64
    train_limit: int | None = None  # class-balanced subset, the same for every seed and method
    # class-balanced val and test subsets (reduced-budget profiles on CPU; recorded per run)
    eval_limit: int | None = None
    eval_batch_size: int = 1000
    # reference: raw [0, 1] pixels for MNIST/Fashion-MNIST, the reference's mean/std for CIFAR
    input_norm: str = "reference"
    fc_bias: bool = False  # bias on the switchable FC layers (the reference has none)
    # init of the switchable FC layers, for EVERY method (compared methods share their start):
    # "reference" W ~ N(0, 0.01), b = 0 (the reference switcher's); "pytorch" U(+-1/sqrt(fan_in))
    fc_init: str = "reference"
    device: str = "auto"
    amp: str = "off"
    channels_last: bool | None = None  # None: on for convnets (CPU and CUDA)
    data_root: str = "data"
    out: str | None = None  # None: results/runs/<profile>/<dataset>-<arch>-<method>-s<seed>
    profile: str = DEFAULT_PROFILE
    grid: str | None = None  # the params grid this run belongs to (labels only)
    experiment: str | None = None  # MLflow experiment; None: weightswitch/<grid>/<profile>
    tracking: bool = True
    model: dict[str, Any] = field(default_factory=dict)
    optimizer: OptimizerConfig = field(default_factory=OptimizerConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    switcher: SwitcherConfig | None = None
    prune: PruneConfig | None = None

    @property
    def run_name(self) -> str:
        return f"{self.dataset}-{self.arch}-{self.method}-s{self.seed}"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

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
    **dataclasses.asdict(RunConfig(arch="", dataset="", method="")),
    "switcher": dataclasses.asdict(SwitcherConfig()),
    "prune": dataclasses.asdict(PruneConfig()),
}


def expand(fingerprint: dict[str, Any]) -> dict[str, Any]:
    """A `fingerprint()` with its defaults filled back in (to say what differs, in words)."""
    return _deep_merge(_DEFAULTS, fingerprint)


# ----------------------------------------------------------------------------- building


def _field_names(cls: type) -> set[str]:
    return {f.name for f in dataclasses.fields(cls)}


RUN_KEYS = _field_names(RunConfig) - {"switcher", "prune", "model"}
SWITCHER_KEYS = _field_names(SwitcherConfig)
PRUNE_KEYS = _field_names(PruneConfig)
# keys a recipe / archs.<arch> / methods.<method> section may hold (besides model options)
SECTION_KEYS = (
    (RUN_KEYS - {"arch", "dataset", "method", "out"})
    | SWITCHER_KEYS
    | PRUNE_KEYS
    | {"switcher", "prune", "model"}
)


def _coerce(value: Any, tp: Any, key: str) -> Any:
    """Check/convert one value against a field type; raise a one-line UsageError."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _coerce(value, inner[0], key)
    if dataclasses.is_dataclass(tp):
        if isinstance(value, tp):
            return value
        if not isinstance(value, dict):
            raise UsageError(f"{key} must be a mapping, got {value!r}")
        return from_dict(tp, value, prefix=f"{key}.")
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "yes", "no", "1", "0"):
            return value.lower() in ("true", "yes", "1")
        raise UsageError(f"{key} must be true or false, got {value!r}")
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, (int, str)):
            raise UsageError(f"{key} must be an integer, got {value!r}")
        try:
            return int(value)
        except ValueError:
            raise UsageError(f"{key} must be an integer, got {value!r}") from None
    if tp is float:
        if isinstance(value, bool):
            raise UsageError(f"{key} must be a number, got {value!r}")
        try:
            return float(value)
        except (TypeError, ValueError):
            raise UsageError(f"{key} must be a number, got {value!r}") from None
    if tp is str:
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            raise UsageError(f"{key} must be a string, got {value!r}")
        return str(value)
    if origin is list:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = [value]
        if not isinstance(value, (list, tuple)):
            raise UsageError(f"{key} must be a list, got {value!r}")
        (item_tp,) = typing.get_args(tp)
        return [_coerce(v, item_tp, f"{key}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise UsageError(f"{key} must be a mapping, got {value!r}")
        return dict(value)
    return value


def from_dict(cls: type, data: dict[str, Any], prefix: str = "") -> Any:
    """Build dataclass `cls` from a (nested) dict; unknown keys are a UsageError."""
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(data) - set(names))
    if unknown:
        raise UsageError(unknown_key(prefix + unknown[0], names))
    kwargs = {k: _coerce(v, hints[k], f"{prefix}{k}") for k, v in data.items()}
    try:
        return cls(**kwargs)
    except TypeError as exc:  # a required field is missing
        raise UsageError(f"{prefix.rstrip('.') or cls.__name__}: {exc}") from None


def _deep_merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in update.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _deep_merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)  # never alias (and later mutate) the caller's params
    return out


def _set_dotted(tree: dict[str, Any], dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    node = tree
    for p in parts[:-1]:
        child = node.get(p)
        if not isinstance(child, dict):
            child = {}
            node[p] = child
        node = child
    node[parts[-1]] = value


def _route(section: dict[str, Any], where: str, model_keys: bool = False) -> dict[str, Any]:
    """Sort one params section's keys into run / switcher / prune / model keys.

    Only an `archs.<arch>` section (`model_keys`) may hold the model's keyword arguments
    (checked when the model is built); anywhere else an unknown key is an error."""
    if not isinstance(section, dict):
        raise UsageError(f"{where} must be a mapping, got {section!r}")
    if not model_keys:
        for key in section:
            if key not in SECTION_KEYS:
                raise UsageError(unknown_key(key, SECTION_KEYS, where))
    tree: dict[str, Any] = {}
    for key, value in section.items():
        if key in ("switcher", "prune", "model"):
            if not isinstance(value, dict):
                raise UsageError(f"{where}.{key} must be a mapping, got {value!r}")
            tree = _deep_merge(tree, {key: value})
        elif key in RUN_KEYS:
            tree = _deep_merge(tree, {key: value})
        elif key in SWITCHER_KEYS:
            tree = _deep_merge(tree, {"switcher": {key: value}})
        elif key in PRUNE_KEYS:
            tree = _deep_merge(tree, {"prune": {key: value}})
        else:  # a model keyword argument (checked when the model is built)
            tree = _deep_merge(tree, {"model": {key: value}})
    return tree


def load_params(path: str | Path) -> dict[str, Any]:
    """Read a params YAML file into a dict (one-line UsageError if unreadable)."""
    import yaml

    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UsageError(f"cannot read params file {path}: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        raise UsageError(f"params file {path} is not valid YAML: {yaml_error_text(exc)}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise UsageError(f"params file {path} must hold a mapping at the top level")
    check_params(data, str(path))
    return data


# ------------------------------------------------------------------- strict params files

# Top-level keys of a params file; the pipeline's keys (grid, datasets, models, seeds) are
# read by dvc.yaml and the report, not by a run.
PARAMS_KEYS: tuple[str, ...] = (
    "profile",
    "grid",
    "datasets",
    "models",
    "seeds",
    "data",
    "recipe",
    "archs",
    "methods",
    "train_methods",
    "prune_methods",
    "ablations",
    "frontier",
)
FRONTIER_KEYS: tuple[str, ...] = ("methods", "sparsity", "gate_methods", "controls")
DATA_KEYS: tuple[str, ...] = ("root", "val_size")
# Keys a params file must give: the built-in default of these is never what a profile means.
REQUIRED_PARAMS: tuple[str, ...] = ("recipe", "recipe.epochs")


def unknown_key(key: str, valid: Any, where: str = "") -> str:
    """The one-line message for a key that is not valid here, with the closest valid key."""
    valid = sorted(str(v) for v in valid)
    place = f" in {where}" if where else ""
    close = difflib.get_close_matches(str(key).split(".")[-1], valid, n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return f"unknown key {key!r}{place}; valid keys: {', '.join(valid)}{hint}"


def _dataclass_of(tp: Any) -> Any:
    """The dataclass a field holds (also inside `X | None`), else None."""
    return next((t for t in (tp, *typing.get_args(tp)) if dataclasses.is_dataclass(t)), None)


def _check_mapping(data: Any, valid: Any, where: str, types: dict[str, Any]) -> None:
    """Every key of `data` is in `valid`; mappings that become dataclasses, recursively."""
    if data is None:
        return
    if not isinstance(data, dict):
        raise UsageError(f"{where} must be a mapping, got {data!r}")
    for key, value in data.items():
        if key not in valid:
            raise UsageError(unknown_key(key, valid, where))
        cls = _dataclass_of(types.get(key))
        if cls is not None:
            _check_mapping(value, _field_names(cls), f"{where}.{key}", typing.get_type_hints(cls))


def _section_keys(table: str, name: str) -> set[str]:
    """Keys of archs.<arch> (plus the arch's model options) or methods.<method> (only the
    keys that apply to that method)."""
    valid = set(SECTION_KEYS)
    if table == "archs":
        from weightswitch.models.registry import arch_options  # the models know their options

        return valid | set(arch_options(name))
    if name not in SWITCHER_METHODS:
        valid -= SWITCHER_KEYS | {"switcher"}
    if name not in PRUNE_METHODS:
        valid -= PRUNE_KEYS | {"prune"}
    return valid


def _check_required(params: dict[str, Any]) -> None:
    for dotted in REQUIRED_PARAMS:
        *parents, last = dotted.split(".")
        node: Any = params
        for part in parents:
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, dict) and last in node:
            continue
        present = [str(k) for k in node] if isinstance(node, dict) else []
        close = difflib.get_close_matches(last, present, n=1, cutoff=0.6)
        raise UsageError(
            f"missing required key {dotted!r} in {'.'.join(parents) or 'the top level'}; "
            f"keys there: {', '.join(sorted(present)) or '(none)'}"
            + (f"; did you mean {close[0]!r}?" if close else "")
        )


def check_params(params: dict[str, Any], source: str = "params") -> None:
    """A params file is strict: an unknown or misspelled key anywhere, or a required key
    missing, is a one-line UsageError naming the key, its place, the valid keys and the
    closest match (a typo must never train with built-in defaults)."""
    from weightswitch.models.registry import ARCHS

    types = {
        **typing.get_type_hints(RunConfig),
        **typing.get_type_hints(SwitcherConfig),
        **typing.get_type_hints(PruneConfig),
    }
    try:
        _check_mapping(params, PARAMS_KEYS, "the top level", {})
        _check_mapping(params.get("data"), DATA_KEYS, "data", {})
        _check_mapping(params.get("frontier"), FRONTIER_KEYS, "frontier", {})
        _check_stage_methods(params)
        for key in ("gate_methods", "controls"):
            _check_parent_entries(key, (params.get("frontier") or {}).get(key) or [])
        _check_mapping(params.get("recipe"), SECTION_KEYS, "recipe", types)
        for table, names in (("archs", ARCHS), ("methods", METHODS)):
            _check_mapping(params.get(table), names, table, {})
            for name, section in (params.get(table) or {}).items():
                _check_mapping(section, _section_keys(table, name), f"{table}.{name}", types)
        _check_required(params)
    except UsageError as exc:
        raise UsageError(f"{source}: {exc}") from None


def _check_stage_methods(params: dict[str, Any]) -> None:
    """`train_methods` (stage train@: dense or switcher-kind methods) and `prune_methods`
    (stage prune@: pruning methods of a dense parent, matched to the switcher's sparsity)."""
    kinds = {
        "train_methods": lambda m: m in SWITCHER_METHODS or m == "dense",
        "prune_methods": lambda m: (
            m in PRUNE_METHODS and PRUNE_CRITERIA[m] != "none" and m not in PRUNE_ALLOCATIONS
        ),
    }
    from weightswitch.catalog import PRUNE_PARENTS

    for key, fits in kinds.items():
        names = params.get(key)
        if names is None:
            continue
        valid = sorted(m for m in METHODS if fits(m) and PRUNE_PARENTS.get(m, "dense") == "dense")
        bad = [m for m in (names if isinstance(names, list) else [names]) if m not in valid]
        if bad or not isinstance(names, list):
            raise UsageError(f"{key}: {bad or names!r} not allowed; a list of {', '.join(valid)}")


def _check_parent_entries(key: str, entries: Any) -> None:
    """`frontier.gate_methods` / `frontier.controls`: a list of {name, parent}, name a
    gate-ranked pruning method (or an equal-budget control, criterion none) and parent its
    catalog parent (dvc.yaml's gate-frontier@ and control@ stages read the parent from here)."""
    from weightswitch.catalog import PRUNE_PARENTS

    controls = key == "controls"
    valid = sorted(
        m
        for m, parent in PRUNE_PARENTS.items()
        if (PRUNE_CRITERIA[m] == "none") == controls and (controls or parent != "dense")
    )
    for entry in entries if isinstance(entries, list) else [entries]:
        name = entry.get("name") if isinstance(entry, dict) else None
        if name not in valid or set(entry) != {"name", "parent"}:
            raise UsageError(
                f"frontier.{key}: {entry!r} is not {{name: M, parent: P}} "
                f"with M one of {', '.join(valid)}"
            )
        if entry["parent"] != PRUNE_PARENTS[name]:
            raise UsageError(
                f"frontier.{key}: {name} prunes a {PRUNE_PARENTS[name]} "
                f"run, not {entry['parent']!r}"
            )


def _format_paths(tree: dict[str, Any], names: dict[str, Any]) -> None:
    """Expand {profile}/{dataset}/{arch}/{seed} placeholders in prune paths."""
    prune = tree.get("prune")
    if not isinstance(prune, dict):
        return
    for key in ("match", "init_from"):
        value = prune.get(key)
        if isinstance(value, str) and "{" in value:
            try:
                prune[key] = value.format(**names)
            except (KeyError, IndexError, ValueError) as exc:
                raise UsageError(
                    f"prune.{key} {value!r}: bad placeholder {exc}; "
                    "valid: {profile}, {dataset}, {arch}, {seed}"
                ) from None


def build_config(
    arch: str,
    dataset: str,
    method: str,
    params: dict[str, Any] | None = None,
    overrides: dict[str, Any] | None = None,
) -> RunConfig:
    """Resolve a RunConfig: params recipe < archs[arch] < methods[method] < overrides.

    `overrides` maps dotted keys (`optimizer.lr`, `switcher.phase_length`, `seed`) to values;
    only explicitly given CLI flags should be in it."""
    if method not in METHODS:
        raise unknown_choice("method", method, METHODS)
    params = params or {}
    tree: dict[str, Any] = {}
    for key in ("profile", "grid"):
        if key in params:
            tree[key] = params[key]
    data = params.get("data") or {}
    if isinstance(data, dict) and "root" in data:
        tree["data_root"] = data["root"]
    tree = _deep_merge(tree, _route(params.get("recipe") or {}, "recipe"))
    for section, name in (("archs", arch), ("methods", method)):
        table = params.get(section) or {}
        if not isinstance(table, dict):
            raise UsageError(f"{section} must be a mapping of name -> settings")
        where = f"{section}.{name}"
        tree = _deep_merge(tree, _route(table.get(name) or {}, where, section == "archs"))
    for dotted, value in (overrides or {}).items():
        group = dotted.split(".")[0]
        if (group == "switcher" and method not in SWITCHER_METHODS) or (
            group == "prune" and method not in PRUNE_METHODS
        ):
            raise UsageError(f"{dotted.split('.')[-1]} does not apply to method {method!r}")
        if value is not None:
            _set_dotted(tree, dotted, value)
    tree.update(arch=arch, dataset=dataset, method=method)

    switcher = tree.pop("switcher", None) or {}
    prune = tree.pop("prune", None) or {}
    if method in SWITCHER_METHODS:
        for key, value in SWITCHER_VARIANTS[method].items():
            switcher.setdefault(key, value)
        tree["switcher"] = switcher
    elif method in PRUNE_METHODS:
        prune.setdefault("method", PRUNE_CRITERIA[method])
        if method in PRUNE_ALLOCATIONS:
            prune.setdefault("allocation", PRUNE_ALLOCATIONS[method])
        tree["prune"] = prune
        names = {
            "profile": tree.get("profile", DEFAULT_PROFILE),
            "dataset": dataset,
            "arch": arch,
            "seed": tree.get("seed", 0),
        }
        _format_paths(tree, names)
    cfg = from_dict(RunConfig, tree)
    if cfg.out is None:
        cfg.out = str(Path("results", "runs", cfg.profile, cfg.run_name))
    validate(cfg)
    return cfg


# --------------------------------------------------------------------------- validation


def _check_choice(kind: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise unknown_choice(kind, value, choices)


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise UsageError(message)


def _validate_optimizer(opt: OptimizerConfig, key: str) -> None:
    _check_choice(f"{key} name", opt.name, OPTIMIZERS)
    _check(opt.lr > 0, f"{key}.lr must be > 0, got {opt.lr}")
    _check(opt.momentum >= 0, f"{key}.momentum must be >= 0, got {opt.momentum}")
    _check(opt.weight_decay >= 0, f"{key}.weight_decay must be >= 0, got {opt.weight_decay}")
    _check(
        opt.grad_clip is None or opt.grad_clip > 0,
        f"{key}.grad_clip must be > 0 or null, got {opt.grad_clip}",
    )
    _check(
        not opt.nesterov or (opt.name == "sgd" and opt.momentum > 0),
        f"{key}.nesterov needs sgd with momentum > 0",
    )


def _validate_schedule(s: ScheduleConfig, key: str) -> None:
    _check_choice(f"{key} name", s.name, SCHEDULES)
    _check(
        all(m > 0 for m in s.milestones) and s.milestones == sorted(set(s.milestones)),
        f"{key}.milestones must be increasing positive epochs, got {s.milestones}",
    )
    _check(0 < s.gamma <= 1, f"{key}.gamma must be in (0, 1], got {s.gamma}")
    _check(0 < s.factor < 1, f"{key}.factor must be in (0, 1), got {s.factor}")
    _check(s.patience >= 0, f"{key}.patience must be >= 0, got {s.patience}")
    _check(s.min_lr >= 0, f"{key}.min_lr must be >= 0, got {s.min_lr}")
    _check(s.stop_lr is None or s.stop_lr > 0, f"{key}.stop_lr must be > 0, got {s.stop_lr}")


def validate(cfg: RunConfig) -> None:
    """Raise a one-line UsageError naming the first bad value (and the valid choices)."""
    _check_choice("method", cfg.method, METHODS)
    _check(cfg.epochs > 0, f"epochs must be > 0, got {cfg.epochs}")
    _check(cfg.batch_size > 0, f"batch_size must be > 0, got {cfg.batch_size}")
    _check(cfg.eval_batch_size > 0, f"eval_batch_size must be > 0, got {cfg.eval_batch_size}")
    for key in ("train_limit", "eval_limit"):
        value = getattr(cfg, key)
        _check(value is None or value > 0, f"{key} must be > 0 or null, got {value}")
    dev = cfg.device.split(":")[0]
    _check_choice("device", cfg.device if dev != "cuda" else "cuda", DEVICES)
    _check_choice("amp mode", cfg.amp, AMP_MODES)
    _check_choice("fc_init", cfg.fc_init, FC_INITS)
    _check_choice("input normalisation", cfg.input_norm, INPUT_NORMS)
    _check(bool(cfg.profile) and "/" not in cfg.profile, f"bad profile name {cfg.profile!r}")
    _validate_optimizer(cfg.optimizer, "optimizer")
    _validate_schedule(cfg.schedule, "schedule")
    if cfg.method in SWITCHER_METHODS:
        sw = cfg.switcher
        assert sw is not None
        _check_choice("granularity", sw.granularity, GRANULARITIES)
        _check_choice("gate_net", sw.gate_net, GATE_NETS)
        _check_choice("snn_input", sw.snn_input, SNN_INPUTS)
        for key, want in SWITCHER_VARIANTS[cfg.method].items():
            got = getattr(sw, key)
            _check(got == want, f"method {cfg.method} uses {key} {want!r}, got {got!r}")
        _check_choice("phase unit", sw.phase_unit, PHASE_UNITS)
        _check(sw.phase_length >= 1, f"phase_length must be >= 1, got {sw.phase_length}")
        _check(
            0 <= sw.warmup_epochs < cfg.epochs,
            f"warmup_epochs must be in [0, epochs={cfg.epochs}), got {sw.warmup_epochs}",
        )
        _validate_optimizer(sw.snn_optimizer, "snn_optimizer")
        if sw.snn_schedule is not None:
            _validate_schedule(sw.snn_schedule, "snn_schedule")
    if cfg.method in PRUNE_METHODS:
        pr = cfg.prune
        assert pr is not None
        criterion = PRUNE_CRITERIA[cfg.method]
        _check(
            pr.method == criterion,
            f"prune.method {pr.method!r} contradicts method {cfg.method!r} ({criterion})",
        )
        _check(pr.steps >= 1, f"prune steps must be >= 1, got {pr.steps}")
        _check(
            pr.steps == 1 or pr.method == "magnitude",
            f"pruning in {pr.steps} steps needs the magnitude criterion, got {pr.method!r}",
        )
        _check(
            pr.steps == 1 or pr.finetune_epochs >= 1,
            f"iterative pruning ({pr.steps} steps) needs finetune_epochs >= 1 after each step",
        )
        _check_choice("prune scope", pr.scope, SCOPES)
        _check_choice("prune allocation", pr.allocation, ALLOCATIONS)
        _check(
            PRUNE_ALLOCATIONS.get(cfg.method, pr.allocation) == pr.allocation,
            f"method {cfg.method} prunes with allocation {PRUNE_ALLOCATIONS.get(cfg.method)}, "
            f"got {pr.allocation!r}",
        )
        _check(
            pr.scope == "layer",
            f"scope global is allocation global; it cannot be combined with allocation "
            f"{pr.allocation!r}",
        )
        _check(
            (pr.sparsity is None) != (pr.match is None),
            "pruning needs exactly one target: --sparsity F or --match RUN_DIR",
        )
        _check(
            pr.match is None or pr.allocation != "output-denser",
            "allocation output-denser needs --sparsity: --match fixes every layer's sparsity",
        )
        _check(
            0 <= pr.output_ratio <= 1,
            f"output_ratio must be in [0, 1], got {pr.output_ratio}",
        )
        _validate_schedule(pr.finetune_schedule, "finetune_schedule")
        _check(
            pr.finetune_schedule.stop_lr is None,
            "finetune_schedule.stop_lr is not supported: fine-tuning runs finetune_epochs",
        )
        _check(
            pr.sparsity is None or 0 <= pr.sparsity < 1,
            f"sparsity must be in [0, 1), got {pr.sparsity}",
        )
        _check(
            pr.method != "none" or pr.sparsity == 0,
            f"method {cfg.method} is an equal-budget control: it prunes nothing, pass --sparsity 0",
        )
        _check(pr.finetune_epochs >= 0, f"finetune_epochs must be >= 0, got {pr.finetune_epochs}")
        _check(
            pr.finetune_lr is None or pr.finetune_lr > 0,
            f"finetune_lr must be > 0, got {pr.finetune_lr}",
        )


def flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested dict -> {"optimizer.lr": 0.1, ...} (lists kept as values) for MLflow params."""
    out: dict[str, Any] = {}
    for k, v in data.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and v:
            out.update(flatten(v, f"{key}."))
        else:
            out[key] = v
    return out


def config_from_json(data: dict[str, Any]) -> RunConfig:
    """Rebuild a RunConfig from its `to_dict()` form (config.json, checkpoints)."""
    return from_dict(RunConfig, data)
