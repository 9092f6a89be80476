"""Atomic, checksummed checkpoints and RNG state, so a killed run resumes to the same result.

A checkpoint is written to a temporary file and `os.replace`d over the old one: a kill
mid-write leaves the previous checkpoint intact. The file is a header line (format name and
the SHA-256 of the payload) followed by the `torch.save` payload: a flipped byte anywhere in
the weights is caught on every load (resume, `--init-from`), never trained on or published.
The payload is read with `weights_only=True`: a checkpoint placed in a run folder cannot
execute code.
"""

from __future__ import annotations

import hashlib
import io
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from weightswitch import atomic, tensorfile
from weightswitch.errors import WeightswitchError

MAGIC = b"weightswitch-checkpoint/1 sha256="


class CheckpointDamaged(WeightswitchError):
    """A checkpoint that is unreadable, of an older format, or fails its checksum."""


def save(path: Path, state: dict[str, Any]) -> None:
    buf = io.BytesIO()
    torch.save(state, buf)
    payload = buf.getvalue()
    header = MAGIC + hashlib.sha256(payload).hexdigest().encode("ascii") + b"\n"
    atomic.write_bytes(path, lambda f: (f.write(header), f.write(payload)))


def load(path: Path) -> dict[str, Any]:
    """The verified checkpoint at `path`; CheckpointDamaged (one line) otherwise."""
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise CheckpointDamaged(f"cannot read checkpoint {path}: {exc.strerror or exc}") from None
    header, _, payload = raw.partition(b"\n")
    if not header.startswith(MAGIC):
        raise CheckpointDamaged(
            f"checkpoint {path} has no checksum header (an older weightswitch, or not a "
            "checkpoint); delete it or pass --force"
        )
    want = header[len(MAGIC) :].decode("ascii", "replace")
    got = hashlib.sha256(payload).hexdigest()
    if got != want:
        raise CheckpointDamaged(
            f"checkpoint {path} is damaged (sha256 {got[:12]}, header says {want[:12]}); "
            "delete it or pass --force"
        )
    try:
        state = tensorfile.read(payload)
    except Exception as exc:
        raise CheckpointDamaged(
            f"cannot read checkpoint {path} ({type(exc).__name__}); delete it or pass --force"
        ) from None
    if not isinstance(state, dict):
        raise CheckpointDamaged(f"checkpoint {path} does not hold a checkpoint")
    return state


def rng_state() -> dict[str, Any]:
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "python": random.getstate(),
        "numpy": _numpy_state_out(np.random.get_state()),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate(state["python"])
    np.random.set_state(_numpy_state_in(state["numpy"]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _numpy_state_out(state: tuple[Any, ...]) -> dict[str, Any]:
    """numpy's RNG state in types `weights_only` loading accepts (no numpy arrays)."""
    kind, keys, pos, has_gauss, cached = state
    return {
        "kind": str(kind),
        "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)),
        "pos": int(pos),
        "has_gauss": int(has_gauss),
        "cached": float(cached),
    }


def _numpy_state_in(saved: dict[str, Any]) -> tuple[Any, ...]:
    keys = saved["keys"].numpy().astype(np.uint32)
    return (saved["kind"], keys, saved["pos"], saved["has_gauss"], saved["cached"])


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device
