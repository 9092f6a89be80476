"""Errors that the CLI turns into one-line messages and exit codes."""

from __future__ import annotations

import errno
from collections.abc import Iterable


class WeightswitchError(Exception):
    """A failure the user can act on; the CLI prints it on one line and exits non-zero."""

    exit_code = 1


class UsageError(WeightswitchError):
    """Bad input (unknown name, invalid value); exit code 2 like argparse."""

    exit_code = 2


class ChecksumError(WeightswitchError):
    """A file's content does not match the checksum it must have."""


class TrainingDiverged(WeightswitchError):
    """The loss became NaN or infinite."""


def unknown_choice(kind: str, value: object, choices: Iterable[object]) -> UsageError:
    """Build the standard 'unknown X' error that lists the valid choices."""
    valid = ", ".join(str(c) for c in choices)
    return UsageError(f"unknown {kind} {value!r}; valid choices: {valid}")


def yaml_error_text(exc: Exception) -> str:
    """A YAML error in one line with where it is: 'line L, column C: problem' (PyYAML keeps
    the position in `problem_mark`; its str() spreads it over several lines)."""
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or (str(exc).splitlines() or ["bad YAML"])[0]
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
    return f"{where}{problem}"


# What to do about an operating-system error, by errno (the rest: check the path).
_OS_ADVICE: dict[int, str] = {
    errno.ENOSPC: "free space on that disk or write elsewhere",
    errno.EDQUOT: "free space in your quota or write elsewhere",
    errno.EROFS: "the file system is read-only: write elsewhere",
    errno.EACCES: "make it writable (or readable) for you, or use another path",
    errno.EPERM: "make it writable (or readable) for you, or use another path",
    errno.ENOTDIR: "a part of that path is a file, not a folder: move it or use another path",
    errno.EEXIST: "a file is in the way: move it or use another path",
    errno.EISDIR: "that path is a folder, not a file: use another path",
    errno.ENOENT: "it does not exist: check the path",
    errno.EPIPE: "the reader of the output ended first",
}


def os_error_text(exc: OSError) -> str:
    """An operating-system error in one line: what failed, on which path, what to do. The
    writers (`atomic`) make sure `filename` is set, so the path is never missing."""
    what = exc.strerror or str(exc) or type(exc).__name__
    where = exc.filename if exc.filename is not None else exc.filename2
    advice = _OS_ADVICE.get(exc.errno or 0, "check the path")
    return f"{what}: {where} ({advice})" if where is not None else f"{what} ({advice})"
