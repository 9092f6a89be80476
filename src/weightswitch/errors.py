"""Errors that the CLI turns into one-line messages and exit codes."""

from __future__ import annotations

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
