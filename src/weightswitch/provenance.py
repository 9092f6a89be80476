"""Where results come from: the project root and the commit of the code that produced them."""

from __future__ import annotations

import subprocess
from functools import lru_cache
from pathlib import Path


def project_root(start: Path | None = None) -> Path:
    """Nearest ancestor of `start` (default CWD) holding dvc.yaml or .git; else `start`."""
    here = (start or Path.cwd()).resolve()
    for d in (here, *here.parents):
        if (d / "dvc.yaml").exists() or (d / ".git").exists():
            return d
    return here


def source_root() -> Path:
    """The checkout this package runs from (editable install), else the CWD's project.

    Asked of the code, not of the working directory, so a commit names the code that ran."""
    here = Path(__file__).resolve().parent
    for d in here.parents:
        if (d / ".git").exists():
            return d
    return project_root()


# Pipeline state, not code: recomposing params, switching the workspace's grid x profile (the
# defaults list of conf/config.yaml, recorded in every run's config) or reproducing does not
# make the code "dirty". An uncommitted edit to a recipe under conf/ does.
NOT_CODE = (":!params.yaml", ":!dvc.lock", ":!reports", ":!conf/config.yaml")


@lru_cache(maxsize=4)
def git_commit(root: Path | None = None) -> str | None:
    """Commit of the code that runs (suffix `-dirty` if tracked files are modified), or None."""
    root = root or source_root()
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10
        )
        if head.returncode != 0 or not head.stdout.strip():
            return None
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no", "--", ".", *NOT_CODE],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=30,
        )
        return head.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return None
