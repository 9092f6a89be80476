"""The MLflow store: where it is, whether it can take a run, and a client that fails fast.

Store: `MLFLOW_TRACKING_URI` if set, else `sqlite:///<project root>/mlflow.db` with artifacts
in `mlartifacts/` beside the database (set when the experiment is created, so artifacts never
land in whatever directory the run started from). The store is probed first (`probe_store`),
so a dead server, an unwritable or read-only database costs seconds and one line, not
mlflow's minutes of retries or a failure at the first write. mlflow is imported lazily (it is
slow).
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from weightswitch.provenance import project_root

PROBE_TIMEOUT = 5.0  # seconds: a store that fails costs at most this (twice) and one line
SQLITE_WAIT = 5.0  # seconds a call waits on a locked SQLite store (mlflow's own: 20 s a call)
PROBE_TABLE = "weightswitch_write_probe"  # created and rolled back: proves the file takes writes


class ReadOnlyStore(OSError):
    """A SQLite store that opens but cannot be written (its file or its folder)."""


def tracking_uri() -> str:
    uri = os.environ.get("MLFLOW_TRACKING_URI")
    if uri:
        return uri
    return f"sqlite:///{project_root() / 'mlflow.db'}"


def artifact_location(uri: str) -> str | None:
    """`mlartifacts/` beside a SQLite store; None (the server decides) otherwise."""
    if not uri.startswith("sqlite:///"):
        return None
    db = Path(uri[len("sqlite:///") :]).resolve()
    return (db.parent / "mlartifacts").as_uri()


def quiet_mlflow() -> None:
    """Before importing mlflow: fail fast on a dead server instead of minutes of retries
    (user settings win). One failing request then costs at most PROBE_TIMEOUT seconds, and
    the first failure turns tracking off."""
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "0")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", str(int(PROBE_TIMEOUT)))


def probe_store(uri: str, timeout: float = PROBE_TIMEOUT) -> None:
    """Raise within `timeout` seconds if the store at `uri` cannot take a run.

    mlflow itself retries an unreachable server or an unwritable SQLite file for minutes,
    logging every attempt; this check costs one short request, connection or file write."""
    scheme = urlparse(uri).scheme
    if scheme in ("http", "https"):
        import urllib.error
        import urllib.request

        # an HTTP error status still means a server answers (a proxy's 404, an auth check)
        with contextlib.suppress(urllib.error.HTTPError):
            urllib.request.urlopen(uri.rstrip("/") + "/health", timeout=timeout).close()
    elif scheme == "sqlite":
        path = uri[len("sqlite:///") :].split("?")[0]
        if path and path != ":memory:":
            _probe_sqlite(Path(path), timeout)
    elif scheme in ("", "file"):
        folder = Path(urlparse(uri).path if scheme == "file" else uri)
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".probe-"):
            pass


def _probe_sqlite(path: Path, timeout: float) -> None:
    """A write inside a transaction that is rolled back: a read-only file (or a folder where
    SQLite cannot write its journal) opens and locks fine, and fails only here."""
    conn = sqlite3.connect(path, timeout=timeout)
    try:
        conn.execute("BEGIN IMMEDIATE")  # needs the write lock
        conn.execute(f"CREATE TABLE main.{PROBE_TABLE} (x)")  # needs a writable file
        conn.rollback()
    except sqlite3.OperationalError as exc:
        if "readonly" not in str(exc) and os.access(path.parent, os.W_OK):
            raise  # locked, or another failure: said as it is
        raise ReadOnlyStore(_read_only(path, exc)) from None
    finally:
        conn.close()


def _read_only(path: Path, exc: Exception) -> str:
    """Which part of a SQLite store is read-only, and what to do about it, in one line."""
    other = "or set MLFLOW_TRACKING_URI to a writable store"
    if path.exists() and not os.access(path, os.W_OK):
        return f"{path} is read-only: make it writable (chmod u+w {path}) {other}"
    if not os.access(path.parent, os.W_OK):
        return (
            f"{path}: its folder is read-only (SQLite writes a journal beside the file): "
            f"make {path.parent} writable {other}"
        )
    return f"{path} is a read-only database ({exc}): {other}"


def _bound_sqlite_wait() -> None:
    """mlflow sets `PRAGMA busy_timeout = 20000` on every SQLite session, so each call on a
    locked store waits 20 s; rewrite that statement to SQLITE_WAIT, so a store locked mid-run
    costs one call's SQLITE_WAIT and one line (the first failure turns tracking off)."""
    global _BOUNDED
    if _BOUNDED:
        return
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    def shorter_wait(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("PRAGMA BUSY_TIMEOUT"):
            statement = f"PRAGMA busy_timeout = {int(SQLITE_WAIT * 1000)};"
        return statement, parameters

    event.listen(Engine, "before_cursor_execute", shorter_wait, retval=True)
    _BOUNDED = True


_BOUNDED = False


def connect(uri: str) -> Any:
    """An `MlflowClient` on `uri`, after the probe, with mlflow's own logging silenced (its
    failures reach the user as the tracker's one line) and SQLite waits bounded."""
    quiet_mlflow()
    probe_store(uri)
    from mlflow.tracking import MlflowClient

    # after import (mlflow sets its own levels): mlflow logs a 60-line traceback at ERROR
    for name in ("mlflow", "alembic", "sqlalchemy", "urllib3"):
        logging.getLogger(name).setLevel(logging.CRITICAL)
    _bound_sqlite_wait()
    return MlflowClient(tracking_uri=uri)
