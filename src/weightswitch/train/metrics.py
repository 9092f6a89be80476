"""metrics.json's record (`run_record`), and sparsity metrics, one definition for every
method: `switcher.gate_stats`.

Sparsity is the fraction of exactly-zero EFFECTIVE weights of the FC layers the study
switches: `W * G` for a switched layer (the gates of the current weights, computed exactly as
in training and evaluation), the masked weight for a pruned layer, `W` for a plain one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
from torch import nn

if TYPE_CHECKING:
    from weightswitch.methods import TrainState
    from weightswitch.rundir import Identity


def sparsity_metrics(model: nn.Module) -> dict[str, Any]:
    """The metrics.json sparsity/cost entries of `model` in its current state."""
    from weightswitch.switcher import gate_stats

    stats = gate_stats(model)
    return {
        "fc_sparsity": stats["fc_sparsity"],
        "layer_sparsity": stats["layer_sparsity"],
        "compression_ratio": stats["compression_ratio"],
        "fc_macs_removed": stats["fc_macs_removed"],
        "fc_weights": stats["fc_weights"],
        "snn_params": stats["snn_params"],
        "total_params": stats["total_params"],
        "nonzero_params": stats["nonzero_params"],
    }


def machine_numerics() -> dict[str, Any]:
    """What decides a run's rounding besides its code and config (issue 37): torch's intra-op
    thread count and the CPU instruction set its kernels dispatch to. A switcher's collapse can
    turn on either, so every record and MLflow run carries them, and a table flags arms that
    differ."""
    return {
        "threads": int(torch.get_num_threads()),
        "cpu_capability": str(torch.backends.cpu.get_cpu_capability()),
    }


def fc_sparsity(model: nn.Module) -> float:
    from weightswitch.switcher import gate_stats

    return float(gate_stats(model)["fc_sparsity"])


def run_record(
    state: TrainState,
    *,
    test_accuracy: float,
    val_accuracy: float,
    sparsity: dict[str, Any],
    wall_seconds: float,
    device: str,
    commit: str | None,
    method_metrics: dict[str, Any],
    exported_test_accuracy: float,
    identity: Identity,
) -> dict[str, Any]:
    """metrics.json of a finished run (docs/architecture.md, "Run outputs"; its keys:
    `run_files.RECORD_KEYS`, read back by `run_files.read_record`): the final model's numbers,
    `sparsity` (`sparsity_metrics`), the method's own entries and the identity the run was
    computed for."""
    cfg = state.cfg
    seconds = [float(r["seconds"]) for r in state.history]
    by_phase: dict[str, float] = {}
    for r in state.history:
        by_phase[r["phase"]] = by_phase.get(r["phase"], 0.0) + float(r["seconds"])
    return {
        "arch": cfg.arch,
        "dataset": cfg.dataset,
        "method": cfg.method,
        "seed": cfg.seed,
        "profile": cfg.profile,
        "epochs": len(state.history),
        "test_accuracy": test_accuracy,
        "val_accuracy": val_accuracy,
        **{k: sparsity[k] for k in ("fc_sparsity", "layer_sparsity", "compression_ratio")},
        "snn_params": sparsity["snn_params"],
        "fc_macs_removed": sparsity["fc_macs_removed"],
        "epoch_seconds": sum(seconds) / len(seconds) if seconds else None,
        "wall_seconds": wall_seconds,
        "device": device,
        "git_commit": commit,
        **{k: state.extra[k] for k in ("train_size", "val_size", "test_size")},
        **method_metrics,
        "exported_test_accuracy": exported_test_accuracy,
        "phase_seconds": by_phase,
        "fc_weights": sparsity["fc_weights"],
        "total_params": sparsity["total_params"],
        "nonzero_params": sparsity["nonzero_params"],
        "amp": cfg.amp,
        "torch_version": torch.__version__,
        **machine_numerics(),
        "init_from": state.extra.get("init_from"),
        "mlflow_run_id": state.extra.get("mlflow_run_id"),
        "config": cfg.to_dict(),
        "identity": identity.to_dict(),
    }
