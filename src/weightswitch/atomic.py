"""Atomic file writes: a reader (DVC, a resumed run, a browser) never sees half a file.

Everything is written to a temporary file beside its target and renamed over it only when
the write succeeded; a failed or killed write leaves the old file (or none) and no temp file.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path next to `path`; rename it onto `path` only if the body succeeds."""
    path = Path(path)
    tmp_path: Path | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.close(fd)
        tmp_path = Path(tmp)
        yield tmp_path
        os.chmod(tmp_path, 0o644)
        os.replace(tmp_path, path)
    except OSError as exc:
        raise _naming(exc, path) from exc
    finally:
        if tmp_path is not None:
            tmp_path.unlink(missing_ok=True)


def _naming(exc: OSError, path: Path) -> OSError:
    """`exc` naming the file being written: a write or sync on a full disk names no file, a
    temporary file's name means nothing to the user (cli.py prints the path)."""
    named = exc.filename
    if named is not None and not Path(named).name.startswith(f".{path.name}."):
        return exc
    return type(exc)(exc.errno, exc.strerror or str(exc), str(path))


def write_with(path: str | Path, writer: Callable[[Path], object]) -> Path:
    """Call `writer(tmp_path)` and move the result onto `path` atomically."""
    with atomic_path(path) as tmp:
        writer(tmp)
    return Path(path)


def write_bytes(path: str | Path, write: Callable[[IO[bytes]], object]) -> Path:
    """Call `write(binary file)` and move the result onto `path`, synced to disk first
    (checkpoints must survive a machine crash, not only a killed process)."""
    with atomic_path(path) as tmp, tmp.open("wb") as f:
        write(f)
        f.flush()
        os.fsync(f.fileno())
    return Path(path)


def write_text(path: str | Path, text: str) -> Path:
    """Write `text` (UTF-8) atomically and return the path."""
    return write_bytes(path, lambda f: f.write(text.encode("utf-8")))


def write_json(path: str | Path, data: Any) -> Path:
    return write_text(path, json.dumps(data, indent=2) + "\n")
