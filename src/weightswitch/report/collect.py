"""Collect run outputs (docs/architecture.md, "Run outputs") into tidy DataFrames.

Nothing here invents a number: a run whose metrics.json is absent or unreadable becomes a
row with status "missing" and a reason, a run that recorded a divergence (diverged.json) a row
with status "diverged" and its message; every metric of either stays NaN.
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pandas as pd

from weightswitch.catalog import METHODS, PRUNE_PARENTS, STUDY_METHODS, Names
from weightswitch.errors import UsageError, yaml_error_text
from weightswitch.run_files import (
    CHECKPOINT,
    CONFIG,
    DIVERGED,
    GATES,
    HISTORY,
    HISTORY_COLUMNS,
    METRICS,
    REQUIRED_KEYS,
    UnreadableRecord,
    read_record,
)

# the study's switcher methods: the runs whose gates the figures show
GATE_FIGURE_METHODS = Names(lambda spec: spec.study and spec.kind == "switcher")
KEYS: tuple[str, ...] = ("profile", "dataset", "arch", "method", "seed")
PAIR: tuple[str, ...] = ("profile", "dataset", "arch")
NUMERIC = (
    "epochs",
    "test_accuracy",
    "val_accuracy",
    "exported_test_accuracy",
    "fc_sparsity",
    "compression_ratio",
    "snn_params",
    "fc_macs_removed",
    "epoch_seconds",
    "wall_seconds",
    "train_size",
    "test_size",
    "target_sparsity",
    "threads",
)
TEXT = ("device", "git_commit", "matched_run", "cpu_capability")
FRACTIONS = (
    "test_accuracy",
    "val_accuracy",
    "exported_test_accuracy",
    "fc_sparsity",
    "target_sparsity",
)
RUN_COLUMNS = (*KEYS, "run", "status", "reason", "path", *NUMERIC, *TEXT, "has_gates", "w_epochs")
# a history phase in which the FC weights W do not train (a switcher's SNN epochs)
FROZEN_W_PHASES = frozenset({"snn"})


def w_epochs(phases: Iterable[str]) -> int:
    """The epochs in which a run's FC weights W were updated: every epoch of its history
    (a child's history starts with its parent's) except a switcher's SNN phases."""
    return sum(1 for phase in phases if str(phase) not in FROZEN_W_PHASES)


# Files that mark a directory as a run directory even before metrics.json exists.
RUN_MARKERS = (METRICS, HISTORY, CONFIG, CHECKPOINT, DIVERGED)

_ANY_NAME = re.compile(r"^(?P<dataset>[^-]+)-(?P<arch>[^-]+)-(?P<method>.+)-s(?P<seed>\d+)$")


# a run row's status (run_files.DIVERGED is the file name of a divergence record)
STATUS_OK, STATUS_MISSING, STATUS_DIVERGED = "ok", "missing", "diverged"


@dataclass(frozen=True, order=True)
class RunId:
    """Identity of one run; the directory name is `<dataset>-<arch>-<method>-s<seed>`."""

    profile: str
    dataset: str
    arch: str
    method: str
    seed: int

    @property
    def name(self) -> str:
        return f"{self.dataset}-{self.arch}-{self.method}-s{self.seed}"


@functools.cache
def _known_name(methods: tuple[str, ...]) -> re.Pattern[str]:
    """Run names of the catalog's methods (a dataset name may hold '-' then)."""
    alternatives = "|".join(re.escape(m) for m in sorted(methods, key=len, reverse=True))
    return re.compile(
        rf"^(?P<dataset>.+)-(?P<arch>[^-]+)-(?P<method>{alternatives})-s(?P<seed>\d+)$"
    )


def parse_run_name(name: str) -> dict[str, Any] | None:
    """Split a run directory name into dataset, arch, method, seed (None if it is not one)."""
    match = _known_name(tuple(METHODS)).match(name) or _ANY_NAME.match(name)
    if match is None:
        return None
    out: dict[str, Any] = match.groupdict()
    out["seed"] = int(out["seed"])
    return out


@dataclass
class Collection:
    """Everything the tables and figures are drawn from."""

    root: Path
    runs: pd.DataFrame  # one row per run (status "ok", "missing" or "diverged")
    history: pd.DataFrame  # one row per run-epoch (ok runs only)
    layers: pd.DataFrame  # one row per run-layer: layer sparsity
    expected: list[RunId] | None = None
    warnings: list[str] = field(default_factory=list)
    grid: str | None = None  # the params grid name, when known

    @property
    def ok(self) -> pd.DataFrame:
        return self.runs[self.runs["status"] == STATUS_OK]

    @property
    def missing(self) -> pd.DataFrame:
        return self.runs[self.runs["status"] == STATUS_MISSING]

    @property
    def diverged(self) -> pd.DataFrame:
        return self.runs[self.runs["status"] == STATUS_DIVERGED]


class _BadMetrics(ValueError):
    """metrics.json exists but cannot be trusted."""


def _number(value: Any, key: str) -> float:
    if value is None:
        return math.nan
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _BadMetrics(f"{key} is not a number: {value!r}")
    return float(value)


def _read_metrics(path: Path) -> dict[str, Any]:
    try:
        data = read_record(path.parent, require=REQUIRED_KEYS)
    except (OSError, UnreadableRecord) as exc:
        raise _BadMetrics(str(exc)) from exc
    row: dict[str, Any] = {k: data[k] for k in ("arch", "dataset", "method")}
    if not isinstance(data["seed"], int) or isinstance(data["seed"], bool):
        raise _BadMetrics(f"seed is not an integer: {data['seed']!r}")
    row["seed"] = data["seed"]
    row["profile"] = data.get("profile")
    for key in NUMERIC:
        row[key] = _number(data.get(key), key)
    if math.isnan(row["test_accuracy"]):
        raise _BadMetrics("test_accuracy is null")
    for key in FRACTIONS:
        if not math.isnan(row[key]) and not 0.0 <= row[key] <= 1.0:
            raise _BadMetrics(f"{key}={row[key]} is outside [0, 1]")
    for key in TEXT:
        value = data.get(key)
        row[key] = None if value is None else str(value)
    layers = data.get("layer_sparsity") or {}
    if not isinstance(layers, dict):
        raise _BadMetrics("layer_sparsity is not an object")
    row["layer_sparsity"] = {str(k): _number(v, f"layer_sparsity[{k}]") for k, v in layers.items()}
    return row


def _read_history(path: Path, rid: RunId, warn: list[str]) -> pd.DataFrame | None:
    if not path.is_file():
        warn.append(f"{rid.profile}/{rid.name}: no history.csv")
        return None
    try:
        df = pd.read_csv(path)
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        warn.append(f"{rid.profile}/{rid.name}: unreadable history.csv ({exc})")
        return None
    absent = [c for c in ("epoch", "phase") if c not in df.columns]
    if absent:
        warn.append(f"{rid.profile}/{rid.name}: history.csv lacks {', '.join(absent)}")
        return None
    for col in HISTORY_COLUMNS:
        if col not in df.columns:
            df[col] = math.nan
        elif col != "phase":
            df[col] = pd.to_numeric(df[col], errors="coerce")
    df = df[list(HISTORY_COLUMNS)].copy()
    for key in KEYS:
        df.insert(KEYS.index(key), key, getattr(rid, key))
    return df


def _profile_from_path(run_dir: Path, root: Path) -> str:
    rel = run_dir.relative_to(root)
    return rel.parts[-2] if len(rel.parts) >= 2 else root.name


def _run_dirs(root: Path) -> list[Path]:
    dirs: set[Path] = set()
    for marker in RUN_MARKERS:
        for hit in root.rglob(marker):
            if marker == METRICS or parse_run_name(hit.parent.name) is not None:
                dirs.add(hit.parent)
    return sorted(dirs)


UNRECORDED = "unrecorded"


def run_numerics(threads: Any, cpu_capability: Any) -> str:
    """A run's machine numerics as one label ("1, AVX2"), or UNRECORDED where its record
    does not hold them (records older than the field, or a divergence recorded before it)."""
    if threads is None or (isinstance(threads, float) and math.isnan(threads)):
        return UNRECORDED
    return f"{int(threads)}, {cpu_capability}"


def numerics_summary(labels: Iterable[str]) -> str:
    """The machine numerics of a comparison's runs: 'DIFFER: ' first only when two RECORDED
    ones differ (item 5 of issue 37); a run without a record is counted, not called a
    difference."""
    labels = list(labels)
    recorded = sorted({x for x in labels if x != UNRECORDED})
    missing = sum(1 for x in labels if x == UNRECORDED)
    text = "; ".join(recorded)
    if missing:
        text += ("; " if text else "") + f"{UNRECORDED} ({missing} run{'s' * (missing > 1)})"
    return ("DIFFER: " if len(recorded) > 1 else "") + text


def _divergence(run_dir: Path) -> dict[str, Any] | None:
    """The run's recorded divergence, if it has one."""
    try:
        record = json.loads((run_dir / DIVERGED).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    return record if isinstance(record, dict) else None


def _diverged_row(rid: RunId, record: dict[str, Any], run_dir: Path) -> dict[str, Any]:
    """A diverged run's row: no metric, but the machine numerics it ran with where its record
    holds them (records written before they were recorded leave them empty)."""
    row = _empty_row(rid, STATUS_DIVERGED, str(record.get("message") or "diverged"), run_dir)
    if isinstance(record.get("threads"), int):
        row["threads"] = float(record["threads"])
    if isinstance(record.get("cpu_capability"), str):
        row["cpu_capability"] = record["cpu_capability"]
    return row


def _empty_row(rid: RunId, status: str, reason: str, path: Path | None) -> dict[str, Any]:
    row: dict[str, Any] = dict.fromkeys(RUN_COLUMNS)
    row.update({k: getattr(rid, k) for k in KEYS})
    row.update(run=rid.name, status=status, reason=reason, has_gates=False)
    row["path"] = str(path) if path is not None else None
    for key in NUMERIC:
        row[key] = math.nan
    return row


def read_yaml(path: str | Path, what: str = "--expected") -> Any:
    """Parse a JSON or YAML file (JSON is YAML too), failing with a one-line UsageError."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot read {what} {path}: {exc.strerror or exc}") from exc
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise UsageError(
            f"{what} {path} is neither JSON nor YAML: {yaml_error_text(exc)}"
        ) from None


def _from_params(data: dict[str, Any]) -> list[dict[str, Any]]:
    """Expand a params.yaml (models x methods x seeds) into run entries: the methods of
    stages train@, ablate@ and prune@. Frontier, gate-ranked and control methods are frontier
    points (one per sparsity), not runs here."""
    if "train_methods" in data:  # the runs of stages train@, ablate@ and prune@
        methods = [
            *data["train_methods"],
            *(data.get("ablations") or []),
            *(data.get("prune_methods") or []),
        ]
    else:
        methods = [
            m
            for m in (data["methods"] if isinstance(data.get("methods"), dict) else STUDY_METHODS)
            if PRUNE_PARENTS.get(m, "dense") == "dense"
        ]
    return [
        {**model, "method": method, "seed": seed, "profile": data.get("profile")}
        for model in data["models"]
        for method in methods
        for seed in data["seeds"]
    ]


def load_expected(path: str | Path, default_profiles: Iterable[str]) -> list[RunId]:
    """Read the grid the pipeline meant to run: params.yaml itself (models x methods x
    seeds), or a JSON/YAML list of {dataset, arch, method, seed[, profile]} objects or run
    names; entries without a profile apply to every profile in `default_profiles`."""
    data = read_yaml(path)
    if isinstance(data, dict) and isinstance(data.get("models"), list) and "seeds" in data:
        data = _from_params(data)
    elif isinstance(data, dict):
        data = data.get("runs", data.get("expected"))
    if not isinstance(data, list):
        raise UsageError(
            f"--expected {path} must be params.yaml or a list of runs (or {{runs: [...]}})"
        )
    profiles = sorted(set(default_profiles))
    out: set[RunId] = set()
    for i, item in enumerate(data):
        if isinstance(item, str):
            parsed = parse_run_name(item)
            if parsed is None:
                raise UsageError(f"--expected {path}: entry {i} {item!r} is not a run name")
            item = parsed
        if not isinstance(item, dict) or not {"dataset", "arch", "method", "seed"} <= set(item):
            raise UsageError(f"--expected {path}: entry {i} needs dataset, arch, method, seed")
        try:
            seed = int(item["seed"])
        except (TypeError, ValueError) as exc:
            raise UsageError(f"--expected {path}: entry {i} has a bad seed") from exc
        for profile in [item["profile"]] if item.get("profile") else profiles:
            out.add(
                RunId(
                    str(profile), str(item["dataset"]), str(item["arch"]), str(item["method"]), seed
                )
            )
    return sorted(out)


def collect(
    root: str | Path,
    profile: str | None = None,
    expected: list[RunId] | None = None,
) -> Collection:
    """Load every run under `root` (optionally one profile) into tidy frames."""
    root = Path(root)
    warn: list[str] = []
    rows: dict[RunId, dict[str, Any]] = {}
    histories: list[pd.DataFrame] = []
    layer_rows: list[dict[str, Any]] = []
    for run_dir in _run_dirs(root) if root.is_dir() else []:
        path_profile = _profile_from_path(run_dir, root)
        parsed = parse_run_name(run_dir.name)
        metrics_path = run_dir / METRICS
        divergence = None if metrics_path.is_file() else _divergence(run_dir)
        if divergence is not None and parsed is not None:
            rid = RunId(
                path_profile, parsed["dataset"], parsed["arch"], parsed["method"], parsed["seed"]
            )
            if profile is None or rid.profile == profile:
                rows.setdefault(rid, _diverged_row(rid, divergence, run_dir))
            continue
        try:
            if not metrics_path.is_file():
                raise _BadMetrics("no metrics.json (run failed or unfinished)")
            data = _read_metrics(metrics_path)
        except _BadMetrics as exc:
            where = run_dir.relative_to(root) if run_dir != root else run_dir
            if parsed is None:
                warn.append(f"{where}: {exc}; identity unknown, not tabulated")
                continue
            rid = RunId(
                path_profile, parsed["dataset"], parsed["arch"], parsed["method"], parsed["seed"]
            )
            if profile is not None and rid.profile != profile:
                continue
            warn.append(f"{rid.profile}/{rid.name}: {exc}; reported as missing")
            rows.setdefault(rid, _empty_row(rid, STATUS_MISSING, str(exc), run_dir))
            continue
        rid = RunId(
            str(data["profile"] or path_profile),
            str(data["dataset"]),
            str(data["arch"]),
            str(data["method"]),
            int(data["seed"]),
        )
        if profile is not None and rid.profile != profile:
            continue
        if parsed is not None and rid.name != run_dir.name:
            warn.append(f"{run_dir}: metrics.json says {rid.name}; trusting metrics.json")
        if rid in rows and rows[rid]["status"] == STATUS_OK:
            warn.append(f"{rid.profile}/{rid.name}: duplicate run at {run_dir}; ignored")
            continue
        row = _empty_row(rid, STATUS_OK, "", run_dir)
        row.update({k: data[k] for k in (*NUMERIC, *TEXT)})
        row["has_gates"] = (run_dir / GATES).is_file() or _recorded(run_dir, GATES)
        rows[rid] = row
        for order, (layer, value) in enumerate(data["layer_sparsity"].items()):
            layer_rows.append(
                {
                    **{k: getattr(rid, k) for k in KEYS},
                    "layer": layer,
                    "order": order,
                    "sparsity": value,
                }
            )
        hist = _read_history(run_dir / HISTORY, rid, warn)
        if hist is not None:
            histories.append(hist)
            row["w_epochs"] = w_epochs(hist["phase"])
    history = (
        pd.concat(histories, ignore_index=True)
        if histories
        else pd.DataFrame(columns=[*KEYS, *HISTORY_COLUMNS])
    )
    layers = pd.DataFrame(layer_rows, columns=[*KEYS, "layer", "order", "sparsity"])
    col = Collection(root, _frame(rows), history, layers, None, warn)
    return col if expected is None else with_expected(col, expected, profile)


def _frame(rows: dict[RunId, dict[str, Any]]) -> pd.DataFrame:
    runs = pd.DataFrame([rows[k] for k in sorted(rows)], columns=list(RUN_COLUMNS))
    runs["seed"] = runs["seed"].astype("int64")
    for key in (*NUMERIC, "w_epochs"):
        runs[key] = runs[key].astype("float64")
    return runs


def with_expected(col: Collection, expected: list[RunId], profile: str | None = None) -> Collection:
    """Add a "missing" row for every expected run that left no trace under the results root,
    and leave out the runs of dataset/arch pairs the expected grid does not have: grids share
    a profile's results folder (results/runs/<profile>), and a grid's report must not pool in
    another grid's runs. Extra seeds or methods of an expected pair stay."""
    pairs = {(rid.dataset, rid.arch) for rid in expected}
    rows = {RunId(*(r[k] for k in KEYS)): r for r in col.runs.to_dict("records")}
    other = sorted({f"{r.dataset}/{r.arch}" for r in rows if (r.dataset, r.arch) not in pairs})
    if other:
        col.warnings.append(
            f"left out the runs of {', '.join(other)}: not in the expected grid (another grid's "
            "runs in the same results folder)"
        )
    rows = {rid: r for rid, r in rows.items() if (rid.dataset, rid.arch) in pairs}
    for rid in expected:
        if (profile is None or rid.profile == profile) and rid not in rows:
            rows[rid] = _empty_row(rid, STATUS_MISSING, "not found (never ran?)", None)

    def mine(df: pd.DataFrame) -> pd.DataFrame:
        keep = [(d, a) in pairs for d, a in zip(df["dataset"], df["arch"], strict=True)]
        return df[keep].reset_index(drop=True) if len(df) else df

    return replace(
        col,
        runs=_frame(rows),
        history=mine(col.history),
        layers=mine(col.layers),
        expected=list(expected),
    )


def _recorded(run_dir: Path, name: str) -> bool:
    """Whether a run's records (report/records.py: artifacts.json) list heavy artifact `name`
    (the run folder itself is not in git, its records are)."""
    try:
        return name in json.loads((run_dir / "artifacts.json").read_text(encoding="utf-8"))
    except (OSError, ValueError, TypeError):
        return False
