"""A run directory's integrity: identity, one writer, completion and resume (OpenLTH's `Desc`),
one concern per module: `identity` (what a run is a function of), `lock` (one writer),
`resume` (the run folder, completion, checkpoints and resume)."""

from weightswitch.rundir.identity import (
    DIVERGED_PARENT,
    PARENTS,
    Identity,
    diverged_parents,
    identity_of,
)
from weightswitch.rundir.lock import RunLock, RunLocked
from weightswitch.rundir.resume import CHECKPOINT_VERSION, RunDir, restore, snapshot

__all__ = [
    "CHECKPOINT_VERSION",
    "DIVERGED_PARENT",
    "PARENTS",
    "Identity",
    "RunDir",
    "RunLock",
    "RunLocked",
    "diverged_parents",
    "identity_of",
    "restore",
    "snapshot",
]
