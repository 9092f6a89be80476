"""What every figure of a report shares: the `Plot` it is drawn into, how it is saved and
published (budget stamped in, PNG + PDF, an index entry), and how it draws several seeds.

Seeds: every seed is its own marker, and the method's summary marker sits where
`seeds.summarise_seeds` puts it (the mean, or the medians where a seed collapsed or diverged),
with the range over seeds as bars. The accuracy axis spans the runs that did not collapse; a
collapsed run is drawn at the bottom edge with its accuracy written beside it, so one
collapsed seed cannot flatten every other point (`fit_accuracy_axis`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import seaborn as sns

from weightswitch.atomic import write_with
from weightswitch.report.collect import Collection
from weightswitch.report.index import Entry, RunCount, budget_text
from weightswitch.report.references import (
    Reference,
    pruned_references,
    reference_sparsity_pct,
)
from weightswitch.report.seeds import COLLAPSE_FACTOR, SeedSummary, collapsed, summarise_seeds
from weightswitch.report.style import method_marker

PARTIAL_COLOR = "#B2182B"


@dataclass
class Plot:
    """A drawn figure waiting to be saved, with the caption the index shows."""

    stem: str
    figure: plt.Figure
    caption: str
    files: list[Path] = field(default_factory=list)


def stamp(fig: plt.Figure, budget: str, partial: str = "") -> None:
    """Write the budget into the image itself, so a cited figure keeps it, and, for a
    partial report, its label ('partial report: 2 of 54 runs (52 missing)') above it all."""
    fig.text(0.5, 0.0, budget, ha="center", va="top", fontsize=8, color="0.2", wrap=True)
    if partial:
        fig.text(
            0.5,
            1.0,
            partial,
            ha="center",
            va="bottom",
            fontsize=10,
            fontweight="bold",
            color=PARTIAL_COLOR,
        )


def range_bars(mean, low, high) -> np.ndarray:
    """Asymmetric error bars from the mean to the min and max over seeds (for `errorbar`): a
    spread that a collapsed seed makes bimodal stays inside the values measured, where a
    ± std bar would not (67.9 ± 50.3 % reaches 118 %)."""
    mean = np.atleast_1d(np.asarray(mean, float))
    lo = (mean - np.atleast_1d(np.asarray(low, float))).clip(min=0)
    hi = (np.atleast_1d(np.asarray(high, float)) - mean).clip(min=0)
    return np.nan_to_num(np.vstack([lo, hi]))


def draw_seeds(
    ax: plt.Axes,
    x: Sequence[float],
    y: Sequence[float],
    dataset: str,
    method: str,
    color: str,
    diverged: int = 0,
) -> SeedSummary:
    """Each seed as a small marker (hollow where it collapsed), then the summary marker with
    the range over seeds (min to max) as bars, labelled for the legend."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    low = collapsed(y, dataset)
    marker = method_marker(method)
    summary = summarise_seeds(x, y, low, diverged)
    if len(y) > 1 or summary.centre is None:
        for sel, face in ((~low, color), (low, "none")):
            ax.scatter(
                x[sel],
                y[sel],
                marker=marker,
                s=26,
                facecolors=face,
                edgecolors=color,
                linewidths=1.1,
                alpha=0.85,
                zorder=5,
            )
    if summary.centre is None:
        ax.scatter([], [], marker=marker, s=26, color=color, label=summary.legend(method))
        return summary
    cx, cy = summary.centre
    ax.errorbar(
        cx,
        cy,
        xerr=range_bars(cx, x.min(), x.max()),
        yerr=range_bars(cy, y.min(), y.max()),
        fmt=marker,
        ms=8,
        color=color,
        mec="black",
        mew=0.7,
        capsize=3,
        zorder=6,
        label=summary.legend(method),
    )
    return summary


SEED_NOTE = (
    "Every seed is its own small marker (hollow: a collapsed run, test accuracy at most "
    f"{COLLAPSE_FACTOR:g}x chance); the large marker is the mean over the seeds ('mean of n') "
    "where none collapsed or diverged, else the median sparsity and the median accuracy "
    "('median of n'; none with an even number of seeds: a mean would lie where no run is); "
    "bars: the range over seeds, min to max. The accuracy axis spans the runs that did not "
    "collapse; a collapsed run sits on the bottom edge, its accuracy written beside it."
)


def fit_accuracy_axis(
    ax: plt.Axes, x: Sequence[float], y: Sequence[float], dataset: str, also: Sequence[float] = ()
) -> None:
    """Span the accuracy axis over the runs that did not collapse and the lines in `also`
    (with a margin), and draw each collapsed run on the bottom edge with its accuracy written
    beside it (a 10% seed would otherwise stretch the axis to 10-100 and flatten every other
    point)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    low = collapsed(y, dataset)
    if not low.any() or low.all():
        return
    good = np.concatenate([y[~low], np.asarray(also, float)])
    pad = max(0.5, 0.15 * float(good.max() - good.min()))
    bottom, top = float(good.min()) - pad, float(good.max()) + pad
    ax.set_ylim(bottom, top)
    for cx, cy in zip(x[low], y[low], strict=True):
        ax.annotate(
            f"collapsed: {cy:.1f}%",
            (cx, bottom),
            xytext=(0, 6),
            textcoords="offset points",
            ha="center",
            fontsize=6.5,
            color="0.3",
            arrowprops={"arrowstyle": "->", "color": "0.3", "lw": 0.8},
        )


def draw_dense_reference(ax: plt.Axes, ref: Reference | None, cite: str) -> bool:
    """A published dense accuracy of the pair (`references.dense_reference`) as a dotted grey
    line, labelled with `cite`: not a measurement of this suite. Whether there is one."""
    if ref is None or ref.test_accuracy_pct is None:
        return False
    ax.axhline(
        ref.test_accuracy_pct,
        color="0.5",
        ls=":",
        lw=1,
        label=f"published dense {ref.test_accuracy_pct:.2f} ({cite})",
    )
    return True


def draw_published(ax: plt.Axes, dataset: str, arch: str, x_of: Callable[[float], float]) -> str:
    """Han et al. 2015's pruned networks for this pair as labelled star markers at the
    sparsity their compression implies (`x_of` maps that sparsity in % to the axis); returns
    the caption's sentence (empty without any)."""
    refs = pruned_references(dataset, arch)
    for ref in refs:
        ax.scatter(
            [x_of(reference_sparsity_pct(ref))],
            [ref.test_accuracy_pct],
            marker="*",
            s=110,
            color="0.35",
            edgecolor="black",
            linewidth=0.6,
            zorder=6,
            label=f"Han et al. 2015, published: {ref.test_accuracy_pct:.2f} at "
            f"{ref.compression:g}x fewer parameters",
        )
    if not refs:
        return ""
    return (
        " Stars: Han et al. 2015's published magnitude-pruned-and-retrained networks "
        "(Table 1: 12x fewer parameters, drawn at 1 - 1/12 = 91.7% sparsity of all "
        "parameters, convolutions included for LeNet-5; their own training, far longer "
        "than this budget), not measurements of this suite."
    )


def publish(
    plot: Plot, out: Path, budget: str, partial: str, title: str, log: Callable[[str], None]
) -> Entry:
    """Stamp the budget (and the partial label) into the figure and its caption, save it
    under `out` (figures/ and pdf/) and return its index entry."""
    stamp(plot.figure, budget, partial)
    plot.caption += f" Budget: {budget}." + (f" This is a {partial}." if partial else "")
    save(plot, out / "figures", out / "pdf")
    log(f"wrote {', '.join(str(f.relative_to(out)) for f in plot.files)}")
    return Entry(title, plot.caption, plot.files, image=plot.files[0])


def publish_in_report(
    plot: Plot, col: Collection, profile: str, out: Path, title: str, log: Callable[[str], None]
) -> Entry:
    """`publish` one figure of `profile` with that profile's budget and partial label; a report
    of one profile (one report per folder: reports/<grid>/<profile>/) has no profile folder."""
    if col.ok["profile"].nunique() == 1:
        plot.stem = plot.stem.split("/", 1)[1]
    budget, partial = budget_text(col, str(profile)), RunCount.of(col.runs, profile).label()
    return publish(plot, out, budget, partial, title, log)


def save(plot: Plot, figures_dir: Path, pdf_dir: Path | None = None, dpi: int = 150) -> Plot:
    """Write the plot as PNG (under `figures_dir`: images only, what `dvc plots` renders) and
    PDF (under `pdf_dir`, default the same), atomically, no timestamps in the PDF; close it."""
    for fmt, meta in (("png", {"Software": None}), ("pdf", {"CreationDate": None})):
        folder = figures_dir if fmt == "png" or pdf_dir is None else pdf_dir
        path = (folder / plot.stem).with_suffix(f".{fmt}")
        write_with(
            path,
            lambda tmp, f=fmt, m=meta: plot.figure.savefig(
                tmp, format=f, dpi=dpi, bbox_inches="tight", metadata=m
            ),
        )
        plot.files.append(path)
    plt.close(plot.figure)
    return plot


def setup() -> None:
    """A readable, deterministic style for every figure."""
    sns.set_theme(context="paper", style="whitegrid", font_scale=1.0)
    plt.rcParams.update({"svg.hashsalt": "weightswitch", "figure.dpi": 100})
