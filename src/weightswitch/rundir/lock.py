"""One writer per run directory: `RunLock`, an exclusive `flock` on `<run dir>/.lock` (and
`<checkpoint dir>/.lock`) held for the whole run (train, prune, fine-tune, export).

The file names its holder (pid, host, start time); the kernel drops the lock when the holder
dies, so a lock file that can be locked is a dead run's, taken over with a notice.
"""

from __future__ import annotations

import contextlib
import datetime
import fcntl
import json
import os
import socket
import time
from pathlib import Path
from typing import Any

from weightswitch.errors import WeightswitchError


class RunLocked(WeightswitchError):
    """Another live process holds the run directory."""


def _now() -> str:
    return datetime.datetime.now().astimezone().isoformat(timespec="seconds")


def _holder(record: dict[str, Any]) -> str:
    return (
        f"pid {record.get('pid', '?')} on {record.get('host', '?')} "
        f"since {record.get('started', '?')}"
    )


class RunLock:
    """Exclusive, non-blocking `flock` on one file; released (and the file removed) on exit."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.fd: int | None = None

    def _read(self, fd: int) -> dict[str, Any]:
        os.lseek(fd, 0, os.SEEK_SET)
        text = os.read(fd, 4096).decode("utf-8", "replace")
        try:
            record = json.loads(text) if text.strip() else {}
        except ValueError:
            record = {}
        return record if isinstance(record, dict) else {}

    def acquire(self, what: str) -> dict[str, Any]:
        """Take the lock; return the record of a dead holder it takes over ({} if none)."""
        host = socket.gethostname()
        while True:
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            except FileNotFoundError:  # the folder was just removed by a finishing run
                self.path.parent.mkdir(parents=True, exist_ok=True)
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                record = self._read(fd)
                if not record:  # the holder has the lock but not yet written its name
                    time.sleep(0.2)
                    record = self._read(fd)
                os.close(fd)
                raise RunLocked(
                    f"{what} is in use by another run ({_holder(record)}); wait for it to "
                    "finish or stop that process"
                ) from None
            try:  # the holder we waited on may have removed the file: lock the new one
                same = os.stat(self.path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        stale = self._read(fd)
        if stale and stale.get("host") not in (None, host):
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)
            raise RunLocked(
                f"{what} is locked by {_holder(stale)}, another machine: if that run is dead, "
                f"delete {self.path}"
            )
        record = {"pid": os.getpid(), "host": host, "started": _now()}
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, (json.dumps(record) + "\n").encode("utf-8"), 0)
            os.fsync(fd)
        except OSError as exc:  # a full disk: name the lock file (cli.py prints the path)
            self.path.unlink(missing_ok=True)  # we hold it: nobody else has it open
            os.close(fd)
            raise type(exc)(exc.errno, exc.strerror, str(self.path)) from exc
        self.fd = fd
        return stale

    def release(self) -> None:
        if self.fd is None:
            return
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()  # before unlocking: a waiter then re-opens a fresh file
        fcntl.flock(self.fd, fcntl.LOCK_UN)
        os.close(self.fd)
        self.fd = None
