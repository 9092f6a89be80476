"""Where each grid x profile keeps its DVC lock, and the swap of `dvc.lock` on a switch.

Why: DVC reads one `dvc.lock`, the record of the workspace's pair, while every committed
report keeps the lock that produced it beside it (`reports/<grid>/<profile>/dvc.lock`).
Switching the workspace installs the incoming pair's lock; a workspace lock that no commit
holds yet waits under `.dvc/tmp/pair-locks/` until the workspace returns to its pair
(docs/architecture.md, "One lock per report").
"""

from __future__ import annotations

import shutil
from pathlib import Path

from weightswitch.atomic import write_with
from weightswitch.errors import UsageError

LOCK = "dvc.lock"
ASIDE = Path(".dvc") / "tmp" / "pair-locks"

Pair = tuple[str, str]


def pair_lock(project: Path, pair: Pair) -> Path:
    """The committed lock of a (grid, profile): beside its report."""
    return project / "reports" / pair[0] / pair[1] / LOCK


def aside_lock(project: Path, pair: Pair) -> Path:
    return project / ASIDE / f"{pair[0]}-{pair[1]}.lock"


def committed_pairs(project: Path) -> list[Pair]:
    """(grid, profile) of every report folder that holds its lock."""
    return sorted(
        (p.parent.parent.name, p.parent.name) for p in project.glob(f"reports/*/*/{LOCK}")
    )


def _copy(source: Path, target: Path) -> None:
    write_with(target, lambda tmp: shutil.copyfile(source, tmp))


def switch(project: Path, old: Pair, new: Pair) -> str:
    """Install `new`'s lock as the workspace lock, keeping `old`'s aside when no commit holds
    it; a one-line account of what moved ('' when the pair stays)."""
    if old == new:
        return ""
    lock, notes = project / LOCK, []
    committed = pair_lock(project, old)
    if lock.is_file() and not (committed.is_file() and committed.read_bytes() == lock.read_bytes()):
        _copy(lock, aside_lock(project, old))
        notes.append(f"the {old[0]} x {old[1]} lock waits in {ASIDE}/")
    aside = aside_lock(project, new)
    source = aside if aside.is_file() else pair_lock(project, new)
    if source.is_file():
        _copy(source, lock)
        notes.append(f"dvc.lock is {source.relative_to(project)}")
        aside.unlink(missing_ok=True)
    elif lock.is_file():
        lock.unlink()
        notes.append(f"no lock of {new[0]} x {new[1]} yet: `dvc repro` writes one")
    return "; ".join(notes)


def save(project: Path, pair: Pair) -> Path:
    """The workspace lock, copied beside the pair's report for commit."""
    lock = project / LOCK
    if not lock.is_file():
        raise UsageError(f"no {LOCK} in {project}: run `dvc repro` first")
    target = pair_lock(project, pair)
    _copy(lock, target)
    aside_lock(project, pair).unlink(missing_ok=True)
    return target
