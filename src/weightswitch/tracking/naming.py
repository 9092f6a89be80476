"""What a run is called and tagged in MLflow: one experiment per grid x profile, a run name
that leads with the budget, tags to filter and group by (docs/dvc-mlflow.md)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from weightswitch.catalog import get_method

# Experiment tag the MLflow 3 UI reads to open an experiment in its model-training view
# (instead of the GenAI view it guesses for an experiment without it).
EXPERIMENT_KIND = ("mlflow.experimentKind", "custom_model_development")


def experiment_name(cfg: Any) -> str:
    """One MLflow experiment per grid x profile, so budgets never mix in one table."""
    if cfg.experiment:
        return str(cfg.experiment)
    return f"weightswitch/{cfg.grid or 'adhoc'}/{cfg.profile}"


def target_sparsity(cfg: Any) -> float | None:
    """The fixed sparsity of a frontier point (`--sparsity`, no `--match`), else None."""
    prune = getattr(cfg, "prune", None)
    if prune is None or prune.sparsity is None or prune.match is not None:
        return None
    return float(prune.sparsity)


def mlflow_run_name(cfg: Any) -> str:
    """The budget first, then method, arch and seed, then the dataset: the UI's name column
    shows about 22 characters beside its assistant panel, and two budgets of one run looked
    identical there when the profile came last (issue 38). A frontier point carries its
    sparsity (`magnitude@90%`), or its points would share one name."""
    method = cfg.method
    if (sparsity := target_sparsity(cfg)) is not None:
        method = f"{method}@{100 * sparsity:g}%"
    return f"[{cfg.profile}] {method} {cfg.arch} s{cfg.seed} {cfg.dataset}"


def run_tags(cfg: Any, device: str, commit: str | None) -> dict[str, Any]:
    """Tags to filter and compare by (docs/dvc-mlflow.md, "MLflow, DVC and the reports");
    None values are dropped. `kind` (dense / switcher / prune) and `target_sparsity` (a
    frontier point's; absent on a matched run) keep frontier points apart from matched runs
    of the same method when runs are grouped."""
    name = mlflow_run_name(cfg)
    spec = get_method(cfg.method)
    return {
        "run_name": name,
        "mlflow.runName": name,
        "git_commit": commit,
        "mlflow.source.git.commit": commit,
        "method": cfg.method,
        "kind": spec.kind if spec is not None else None,
        "arch": cfg.arch,
        "dataset": cfg.dataset,
        "seed": cfg.seed,
        "target_sparsity": target_sparsity(cfg),
        "grid": cfg.grid or "adhoc",
        "profile": cfg.profile,
        # set by DVC in `dvc exp run` / queued experiments; absent for a plain `dvc repro`
        "dvc_exp": os.environ.get("DVC_EXP_NAME"),
        "dvc_baseline": os.environ.get("DVC_EXP_BASELINE_REV"),
        "device": device,
        "out": str(Path(cfg.out or ".").resolve()),
    }


def experiment_tags(cfg: Any) -> dict[str, str]:
    return {
        EXPERIMENT_KIND[0]: EXPERIMENT_KIND[1],
        "grid": cfg.grid or "adhoc",
        "profile": str(cfg.profile),
    }
