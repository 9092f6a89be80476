"""`weightswitch dry-run [OPTIONS]`: `dvc exp run --dry [OPTIONS]` that works.

DVC 3.67 (the pinned version) cannot dry-run an experiment of a pipeline whose stages read
each other's outputs: `dvc exp run --dry` reproduces in a temporary copy of the workspace
without checking out the cached outputs there (`executor/base.py`: `if not repro_dry:
dvc_checkout(...)`), so every stage looks changed, and the run-cache lookup of the first stage
whose input another stage makes hashes that missing input (`stage/cache.py`, `_can_hash` ->
`dep.get_hash()`) and fails: `No such file or directory: .../.dvc/tmp/exps/standalone/...
/data/fashion_mnist`. This runs DVC's own command in this process with both mended: the
temporary copy gets the cached outputs (missing ones allowed), and a stage with a missing
input has no run-cache entry instead of an error. The output is DVC's: which stages would
run ("Running stage") and which are up to date ("didn't change, skipping").
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

EXPS_TMP = ("/.dvc/tmp/exps/",)  # where DVC's temporary experiment workspaces live


def mend_dvc() -> None:
    """Patch DVC's two dry-run bugs in this process (idempotent)."""
    import dvc.stage.cache as cache
    from dvc.repo import Repo

    if getattr(cache, "_weightswitch_mended", False):
        return
    can_hash = cache._can_hash

    def _can_hash(stage: Any) -> bool:
        if any(dep.protocol == "local" and not dep.exists for dep in stage.deps):
            return False  # an input an upstream stage would make: no run-cache entry yet
        return can_hash(stage)

    reproduce = Repo.reproduce

    def _reproduce(self: Any, *args: Any, **kwargs: Any) -> Any:
        root = Path(self.root_dir).as_posix() + "/"
        if kwargs.get("dry") and any(part in root for part in EXPS_TMP):
            self.checkout(force=True, allow_missing=True)  # what a real run does first
        return reproduce(self, *args, **kwargs)

    cache._can_hash = _can_hash
    Repo.reproduce = _reproduce
    cache._weightswitch_mended = True


def run(args: argparse.Namespace) -> int:
    from dvc.cli import main as dvc_main

    mend_dvc()
    return int(dvc_main(["exp", "run", "--dry", *args.unknown]) or 0)


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "dry-run",
        help="`dvc exp run --dry [OPTIONS]` with DVC 3.67's dry-run bugs mended",
        description=__doc__.split("\n\n", 1)[1] if __doc__ else None,
        usage="weightswitch dry-run [-h] [DVC EXP RUN OPTIONS, e.g. -S 'seeds=[0,1]']",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.set_defaults(func=run, pass_unknown=True)  # every option goes to `dvc exp run`
    return p
