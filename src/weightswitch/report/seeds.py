"""How the report reads several seeds of one method: which runs collapsed, and where a
method's summary point goes (no drawing here: the paired table uses the collapse rule too).

A method's summary point is the mean over its seeds only where no seed collapsed (accuracy at
most `COLLAPSE_FACTOR` x chance) or diverged; otherwise a mean lies where no run is (97, 97
and 10 % give 68 %; collapsed runs land at any sparsity), so the point sits at the median
sparsity and the median accuracy over the seeds (odd number of seeds) or is absent (even),
and the legend says which (`summarise_seeds`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from weightswitch.data.registry import get_spec
from weightswitch.errors import WeightswitchError

COLLAPSE_FACTOR = 2.0  # a run at most this many times the chance accuracy has collapsed


def collapsed(acc_pct: Sequence[float], dataset: str) -> np.ndarray:
    """Which runs collapsed: test accuracy (%) at most COLLAPSE_FACTOR x chance (1 / classes
    of `dataset`; none for a dataset the registry does not know)."""
    acc = np.asarray(acc_pct, float)
    try:
        chance = 100.0 / get_spec(dataset).num_classes
    except WeightswitchError:
        return np.zeros(acc.shape, bool)
    return acc <= COLLAPSE_FACTOR * chance


@dataclass(frozen=True)
class SeedSummary:
    """Where a method's summary marker goes, and what the legend says about it."""

    n: int  # seeds, diverged ones included
    collapsed: int
    diverged: int
    centre: tuple[float, float] | None  # (x, y); None: no marker means anything here
    kind: str  # "mean", "median", "" (one seed, or no centre)

    def legend(self, method: str) -> str:
        parts = [
            f"{k} {what}"
            for k, what in ((self.collapsed, "collapsed"), (self.diverged, "diverged"))
            if k
        ]
        odd = f" ({', '.join(parts)})" if parts else ""
        if self.n == 1:
            return f"{method}: 1 seed{odd}"
        if self.kind == "mean":
            return f"{method}: mean of {self.n}"
        if self.kind:
            return f"{method}: median of {self.n}{odd}"
        return f"{method}: {self.n} seeds{odd}, no centre"


def summarise_seeds(
    x: Sequence[float], y: Sequence[float], is_collapsed: Sequence[bool], diverged: int = 0
) -> SeedSummary:
    """The mean of (x, y) over seeds when none collapsed or diverged; otherwise the median of
    x and the median of y, each on its own (diverged runs count as the lowest y; an odd number
    of seeds), or no centre (even)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    k = int(np.sum(is_collapsed))
    n = len(y) + diverged
    if len(y) == 1 and diverged == 0:
        return SeedSummary(n, k, diverged, (float(x[0]), float(y[0])), "")
    if len(y) and diverged == 0 and k == 0:
        return SeedSummary(n, k, diverged, (float(x.mean()), float(y.mean())), "mean")
    rank = n // 2 - diverged  # diverged runs take the lowest ranks
    if n % 2 == 0 or rank < 0:
        return SeedSummary(n, k, diverged, None, "")
    return SeedSummary(n, k, diverged, (float(np.median(x)), float(np.sort(y)[rank])), "median")
