"""The finished parent run a pruning run starts from (`--init-from`) or matches (`--match`):
its files read by the names `train` writes them under (`run_files`), its checkpoint verified
to be the very run its metrics.json describes, a connection-gated parent rebuilt and
exported (`gated_parent`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from weightswitch import checkpoint
from weightswitch.errors import UsageError
from weightswitch.run_files import CHECKPOINT, METRICS, UnreadableRecord, read_record


def read_json(path: Path, what: str) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"{what}: {path} not found (is the run finished?)") from None
    except (OSError, json.JSONDecodeError) as exc:
        raise UsageError(f"{what}: cannot read {path} ({exc})") from None


def finished_record(run_dir: Path, what: str) -> dict[str, Any]:
    """The finished run's metrics.json (`run_files.read_record`); `what`: the flag that
    named the run, for the one-line error."""
    path = run_dir / METRICS
    try:
        return read_record(run_dir)
    except FileNotFoundError:
        raise UsageError(f"{what}: {path} not found (is the run finished?)") from None
    except (OSError, UnreadableRecord) as exc:
        raise UsageError(f"{what}: cannot read {path} ({exc})") from None


def check_same_model(data: dict[str, Any], cfg: Any, what: str, run_dir: Path) -> None:
    for key in ("arch", "dataset"):
        if data.get(key) != getattr(cfg, key):
            raise UsageError(
                f"{what} {run_dir} is a {data.get(key)!r} run, this run's {key} is "
                f"{getattr(cfg, key)!r}"
            )


@torch.no_grad()
def gated_parent(
    config: Mapping[str, Any], model_state: Mapping[str, Tensor], run_dir: Path
) -> tuple[dict[str, Tensor], dict[str, Tensor], dict[str, Tensor]]:
    """A connection-gated run's exported network (a plain state dict whose switchable
    weights are W·G, `switcher.export`), its gates g and its weights W before gating per
    switched layer (float32, the final ones), rebuilt on the CPU from its `config.json` and
    checkpoint state.
    Draws from the global RNG (the model's init): restore the RNG afterwards."""
    from weightswitch.models import build_model
    from weightswitch.switcher import attach_switcher, export, switched_layers

    sw = config.get("switcher") or {}
    if sw.get("granularity") != "connection":
        raise UsageError(
            f"--init-from {run_dir}: gate ranking needs connection gates, that run has "
            f"{sw.get('granularity') or 'no switcher'}"
        )
    model = build_model(
        config["arch"],
        config["dataset"],
        fc_bias=bool(config.get("fc_bias")),
        fc_init=str(config.get("fc_init", "reference")),
        **(config.get("model") or {}),
    )
    attach_switcher(
        model,
        "connection",
        gate_net=sw.get("gate_net", "unet"),
        snn_input=sw.get("snn_input", "weights"),
        noise_std=0.0,
    )
    model.load_state_dict(dict(model_state))  # the noise image too (a buffer)
    layers = switched_layers(model)
    gates = {n: layer.gates().detach().float().clone() for n, layer in layers.items()}
    raw = {n: layer.weight.detach().float().clone() for n, layer in layers.items()}
    return export(model).state_dict(), gates, raw


def same_record(a: Any, b: Any) -> bool:
    """Equal once both are plain JSON (a checkpoint keeps tuples, metrics.json lists)."""
    return json.dumps(a, sort_keys=True, default=str) == json.dumps(b, sort_keys=True, default=str)


def parent_checkpoint(run_dir: Path, metrics: Mapping[str, Any]) -> dict[str, Any]:
    """The finished parent's checkpoint, verified (checksum, plain tensors only) and of the
    very run its metrics.json describes: a checkpoint copied in from another run would give
    the child another run's weights, history and lr under this parent's identity."""
    path = run_dir / CHECKPOINT
    redo = (
        f"retrain the parent (its pipeline stage: `dvc repro -f -s <its train stage>`, or "
        f"the `weightswitch train` command in its config.json with --force) or restore it "
        f"(`dvc checkout {run_dir}`)"
    )
    try:
        ckpt = checkpoint.load(path)
    except checkpoint.CheckpointDamaged as exc:
        why = str(exc).split(";")[0]
        raise UsageError(f"--init-from {run_dir}: {why}; {redo}") from None
    if not same_record(ckpt.get("identity"), metrics.get("identity")):
        raise UsageError(
            f"--init-from {run_dir}: its checkpoint.pt belongs to another run "
            f"than its metrics.json (identities differ); {redo}"
        )
    return ckpt
