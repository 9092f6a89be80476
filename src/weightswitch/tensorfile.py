"""The one place a torch file is unpickled: always `weights_only=True`, on the CPU.

Why: `torch.load` with `weights_only=False` runs whatever a pickle asks for, so a file placed
in a run folder, a parent folder or passed as `--checkpoint` could execute code. Every reader
in the package (checkpoints through `checkpoint.load`, which also verifies their SHA-256;
prepared splits, verified against their manifest; gate files) calls `read` here, and
tests/test_trusted_inputs.py fails on a `torch.load` anywhere else in src/ or studies/.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import torch


def read(source: str | Path | bytes) -> Any:
    """The tensors (dicts, lists, numbers, strings) in a torch file or its bytes; raises what
    torch raises (an UnpicklingError for anything that is not plain data)."""
    f = io.BytesIO(source) if isinstance(source, bytes) else source
    return torch.load(f, map_location="cpu", weights_only=True)
