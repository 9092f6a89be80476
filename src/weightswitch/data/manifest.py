"""Layout of a prepared dataset and the cheap "is it up to date?" check.

Kept free of torch so that a no-op `fetch` returns in milliseconds. The manifest itself is
deterministic (no timestamps); the stat record (size, mtime, inode of each output) that
lets the check skip hashing lives beside the raw files, outside the DVC output.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from weightswitch import atomic
from weightswitch.data.checksums import file_digest
from weightswitch.errors import WeightswitchError

MANIFEST = "manifest.json"
SPLITS = ("train", "val", "test")
FORMAT_VERSION = 1
PARTIAL = ".partial-"  # prefix of in-progress files and folders; removed by the next run
_STAT_RECORD = "prepared.stat.json"


def raw_root(root: str | Path, name: str) -> Path:
    """Raw downloads / mirror copies of `name`: `ROOT/.raw/NAME` (not a DVC output)."""
    return Path(root) / ".raw" / name


@contextmanager
def locked(folder: Path) -> Iterator[None]:
    """One fetch per dataset at a time (DVC may run stages in parallel)."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def remove_partials(raw: Path) -> None:
    """Drop leftovers of an interrupted run (the caller holds the dataset's lock)."""
    for path in sorted(raw.rglob(f"{PARTIAL}*")):  # a folder sorts before its content
        if path.exists() or path.is_symlink():
            remove(path)


def _stat_key(path: Path) -> list[int]:
    """What changes whenever a file's content may have: size, mtime, ctime (which no
    `touch` can set back) and inode."""
    st = path.stat()
    return [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino]


def _read_stat_record(raw: Path) -> dict[str, list]:
    try:
        record = json.loads((raw / _STAT_RECORD).read_text())
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}


def write_stat_record(raw: Path, out: Path, files: dict[str, dict]) -> None:
    """Remember size/mtime/ctime/inode of each output next to its sha256 (atomic write;
    entries of other files are kept)."""
    record = _read_stat_record(raw)
    record.update({name: [*_stat_key(out / name), meta["sha256"]] for name, meta in files.items()})
    atomic.write_text(raw / _STAT_RECORD, json.dumps(record))


def check_files(root: str | Path, name: str, files: dict[str, dict]) -> str | None:
    """None if every prepared file in `files` ({file name: manifest entry}) matches its size
    and sha256, else why the first one does not.

    Files whose size, mtime, ctime and inode match the stat record are trusted without
    hashing; others (e.g. restored by `dvc checkout`) are hashed once and then recorded
    (best effort: a read-only data root is simply hashed every time).
    """
    out, raw = Path(root) / name, raw_root(root, name)
    seen = _read_stat_record(raw)
    hashed: dict[str, dict] = {}
    for fname, meta in files.items():
        path = out / fname
        try:
            key = _stat_key(path)
        except FileNotFoundError:
            return f"{path} is missing"
        if key[0] != meta["size"]:
            return f"{path} has {key[0]} bytes, {out / MANIFEST} says {meta['size']}"
        if seen.get(fname) != [*key, meta["sha256"]]:
            if file_digest(path) != meta["sha256"]:
                return f"{path} does not match its sha256 in {out / MANIFEST}"
            hashed[fname] = meta
    if hashed:
        with contextlib.suppress(OSError):
            write_stat_record(raw, out, hashed)
    return None


def is_up_to_date(root: str | Path, name: str, val_size: int, seed: int) -> bool:
    """A manifest for these arguments exists and every output matches its recorded sha256."""
    out = Path(root) / name
    try:
        manifest = json.loads((out / MANIFEST).read_text())
        files = manifest["files"]
        if (
            manifest["format"] != FORMAT_VERSION
            or manifest["dataset"] != name
            or manifest["split"]["seed"] != seed
            or manifest["split"]["val_size"] != val_size
            or set(files) != {f"{s}.pt" for s in SPLITS}
        ):
            return False
        return check_files(root, name, files) is None
    except (OSError, ValueError, KeyError, TypeError):
        return False


def repair_command(root: str | Path, name: str, split_settings: dict | None = None) -> str:
    """The `fetch` command that re-prepares `name` exactly as its manifest says."""
    cmd = f"weightswitch fetch {name} --root {root}"
    settings = split_settings or {}
    if isinstance(settings.get("val_size"), int):
        cmd += f" --val-size {settings['val_size']}"
    if settings.get("seed"):
        cmd += f" --seed {settings['seed']}"
    return cmd


def read_manifest(root: str | Path, name: str) -> dict:
    """The manifest `fetch` wrote for `name` under `root` (one-line error naming the fetch
    command that makes or repairs it)."""
    path = Path(root) / name / MANIFEST
    try:
        manifest = json.loads(path.read_text())
    except FileNotFoundError:
        raise WeightswitchError(
            f"{name} is not prepared (no {path}); run: {repair_command(root, name)}"
        ) from None
    except (OSError, ValueError) as exc:
        raise WeightswitchError(
            f"{path} is unreadable ({type(exc).__name__}); repair: {repair_command(root, name)}"
        ) from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), dict):
        raise WeightswitchError(f"{path} is damaged; repair: {repair_command(root, name)}")
    return manifest
