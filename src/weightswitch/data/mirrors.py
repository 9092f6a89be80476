"""Where a dataset's original archives may already be on this machine (no torch here).

In order: `--mirror DIR`; else every folder of $WEIGHTSWITCH_MIRROR; else the folder a system
package installs (Debian's dataset-fashion-mnist: /usr/share/datasets/fashion-mnist). Only
then does `fetch` download.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from weightswitch.data.registry import DatasetSpec

MIRROR_ENV = "WEIGHTSWITCH_MIRROR"
# Local copies that a system package installs, found without any setting: dataset ->
# (folder under a system data directory, Debian package). The data directories are
# $XDG_DATA_DIRS (default /usr/local/share:/usr/share), so Debian's copy is
# /usr/share/datasets/fashion-mnist.
SYSTEM_COPIES: dict[str, tuple[str, str]] = {
    "fashion_mnist": ("datasets/fashion-mnist", "dataset-fashion-mnist"),
}


@dataclass(frozen=True)
class Mirror:
    """A local folder that may hold a dataset's original archives, and why it is looked at."""

    path: Path
    origin: str  # "--mirror", "WEIGHTSWITCH_MIRROR" or "Debian package NAME"


def system_data_dirs() -> list[Path]:
    """$XDG_DATA_DIRS, or its default /usr/local/share:/usr/share."""
    value = os.environ.get("XDG_DATA_DIRS") or "/usr/local/share:/usr/share"
    return [Path(p) for p in value.split(os.pathsep) if p]


def local_copies(spec: DatasetSpec, env_value: str | None) -> list[Mirror]:
    """Where to look for `spec`'s archives, in order: every folder of WEIGHTSWITCH_MIRROR
    (separated by the path separator, as PATH), then the folder a system package installs."""
    found = [Mirror(Path(p), MIRROR_ENV) for p in (env_value or "").split(os.pathsep) if p]
    if spec.name in SYSTEM_COPIES:
        sub, package = SYSTEM_COPIES[spec.name]
        found += [Mirror(d / sub, f"Debian package {package}") for d in system_data_dirs()]
    return found


def holds_any(mirror: Path, spec: DatasetSpec) -> bool:
    """Whether `mirror` holds at least one of `spec`'s archives (then it must hold all)."""
    return any(
        (mirror / spec.name / a.filename).is_file() or (mirror / a.filename).is_file()
        for a in spec.archives
    )


def offline_fix(spec: DatasetSpec) -> str:
    """What makes `spec` available without internet: the package, or a mirror folder."""
    names = ", ".join(a.filename for a in spec.archives)
    folder = f"set {MIRROR_ENV} (or pass --mirror) to a folder holding {names}"
    if spec.name in SYSTEM_COPIES:
        return f"apt-get install {SYSTEM_COPIES[spec.name][1]} (found by itself), or {folder}"
    return folder
