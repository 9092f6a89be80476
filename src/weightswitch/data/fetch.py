"""`fetch`: get, verify and prepare a dataset into `ROOT/NAME/{train,val,test}.pt` + manifest.

This module only decides whether work is needed (cheaply, without importing torch); the
work itself is `prepare.prepare`.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

from weightswitch.data.checksums import ExtraChecksums
from weightswitch.data.manifest import is_up_to_date, locked, raw_root, remove_partials
from weightswitch.data.mirrors import MIRROR_ENV, holds_any, local_copies
from weightswitch.data.registry import get_spec
from weightswitch.errors import ChecksumError, UsageError, WeightswitchError


def _stderr(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def fetch(
    name: str,
    root: str | Path = "data",
    *,
    mirror: str | Path | None = None,
    search: bool = False,
    val_size: int | None = None,
    seed: int = 0,
    extra_checksums: ExtraChecksums | None = None,
    log: Callable[[str], None] = _stderr,
) -> Path:
    """Prepare dataset `name` under `root` and return `root/name`; a no-op when up to date.

    `mirror`: a folder with the original archives (then no network access is attempted).
    Otherwise, with `search`, the first local copy that holds them: a folder of
    $WEIGHTSWITCH_MIRROR, then the folder a system package installs (Debian's
    dataset-fashion-mnist); the log says in one line which one. Without either, torchvision's
    downloaders fetch them. `val_size` (default: the registry's)
    images are carved from the training set with a permutation seeded by `seed`.
    `extra_checksums` adds trusted checksums (see `checksums.load_extra_checksums`).
    """
    spec = get_spec(name)
    n_val = spec.val_size if val_size is None else val_size
    if n_val < 0:
        raise UsageError(f"--val-size must be >= 0, got {n_val}")
    root = Path(root)
    start = time.perf_counter()

    def step(msg: str) -> None:
        log(f"fetch {name}: {msg} [{time.perf_counter() - start:.1f}s]")

    with locked(raw_root(root, name)):
        remove_partials(raw_root(root, name))
        if is_up_to_date(root, name, n_val, seed):
            step(f"up to date ({root / name})")
            return root / name
        from weightswitch.data.prepare import prepare  # torch + torchvision: only when needed

        def run(source: Path | None) -> None:
            try:
                prepare(
                    spec,
                    root,
                    val_size=n_val,
                    seed=seed,
                    mirror=source,
                    extra=extra_checksums or {},
                    log=step,
                )
            except OSError as exc:  # disk full, permissions, ...: one line, not a traceback
                raise WeightswitchError(f"{name}: {exc}") from exc

        if mirror is not None:
            run(Path(mirror))
            return root / name
        looked = local_copies(spec, os.environ.get(MIRROR_ENV)) if search else []
        found = [m for m in looked if holds_any(m.path, spec)]
        for i, copy in enumerate(found):
            step(f"mirror {copy.path} ({copy.origin})")
            try:
                run(copy.path)
                return root / name
            except ChecksumError as exc:  # e.g. MNIST's files in a flat folder: same names
                if i == len(found) - 1:
                    raise
                step(f"not {name}'s archives ({exc}); next local copy")
        if search:
            where = ", ".join(str(m.path) for m in looked) or f"{MIRROR_ENV} is not set"
            step(f"no local copy (looked in: {where})")
        run(None)
    return root / name
