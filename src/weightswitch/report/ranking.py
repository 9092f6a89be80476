"""Which ranking of connections survives pruning (issue 28): one figure per dataset/arch.

Test accuracy against compression (1 / (1 - FC sparsity), log axis) for every frontier
ranking that ran on the pair: magnitude and random pruning of the dense run, and the gate g
or |g·W| of a finished connection-gated run (the switcher and its ablations), each pruned to
the same sparsities and fine-tuned alike. Every seed is its own thin line, so a curve's centre
never hides a collapsed seed; the thick line is the mean over the seeds where none collapsed,
else the median sparsity and median accuracy (the rule of the other figures: a mean would lie
where no run is); the legend says which each line is ("mean of n" or "median of n"). A point
past the axis (a collapsed parent with nearly every gate off prunes to ~100%) sits on its
right edge as a triangle rather than stretching the axis. The right panel zooms in on the
band around dense, where the rankings differ by tenths of a point.
Han et al. 2015's published 12x networks are stars, with their provenance.

Drawn only where a gate-ranked point exists; the numbers are in tables/paired.md.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from weightswitch.catalog import PRUNE_PARENTS, method_order
from weightswitch.report.collect import Collection
from weightswitch.report.index import Entry, budget_label, source_text
from weightswitch.report.plots import Plot, draw_published, publish_in_report, setup
from weightswitch.report.seeds import collapsed, summarise_seeds
from weightswitch.report.style import method_colors, method_line, method_marker
from weightswitch.report.tables import runs_table

Log = Callable[[str], None]
ZOOM_BELOW_PP = 3.0  # the right panel: dense mean - 3 pp up to the best point
X_MAX = 70.0  # compression axis ends here (50x = 98% is the grids' largest target)


def _compression(sparsity_pct: pd.Series | float) -> pd.Series | float:
    return 1.0 / (1.0 - np.asarray(sparsity_pct, float) / 100.0)


def has_gate_ranking(points: pd.DataFrame) -> bool:
    return bool(points["method"].map(lambda m: PRUNE_PARENTS.get(m, "dense") != "dense").any())


def draw(
    runs: pd.DataFrame, points: pd.DataFrame, profile: str, dataset: str, arch: str, source: str
) -> Plot:
    """The ranking figure of one pair (`points`: ok frontier runs, one row each; `runs`: the
    main runs as `tables.runs_table`, for the dense reference)."""
    import matplotlib.pyplot as plt  # after plots has chosen the Agg backend
    from matplotlib.ticker import NullFormatter

    mine = points[
        (points["profile"] == profile) & (points["dataset"] == dataset) & (points["arch"] == arch)
    ]
    dense = runs[
        (runs["profile"] == profile)
        & (runs["dataset"] == dataset)
        & (runs["arch"] == arch)
        & (runs["method"] == "dense")
        & (runs["status"] == "ok")
    ]["test_acc_pct"]
    methods = method_order(mine["method"].unique())
    colors = method_colors(methods)
    fig, axes = plt.subplots(1, 2, figsize=(11.0, 4.6))
    for ax in axes:
        for method in methods:
            pts = mine[mine["method"] == method].sort_values("target_sparsity_pct")
            for _, seed in pts.groupby("seed"):
                x = _compression(seed["fc_sparsity_pct"])
                ax.plot(
                    np.minimum(x, X_MAX),
                    seed["test_acc_pct"],
                    color=colors[method],
                    lw=0.7,
                    alpha=0.45,
                )
                past = x > X_MAX
                if past.any():
                    ax.scatter(
                        np.full(int(past.sum()), X_MAX),
                        seed["test_acc_pct"][past],
                        marker=">",
                        s=22,
                        color=colors[method],
                        clip_on=False,
                        zorder=5,
                    )
            centres = [
                summarise_seeds(
                    g["fc_sparsity_pct"], g["test_acc_pct"], collapsed(g["test_acc_pct"], dataset)
                )
                for _, g in pts.groupby("target_sparsity_pct")
            ]
            drawn = [c for c in centres if c.centre]
            n = max((c.n for c in centres), default=0)
            k = max((c.collapsed for c in centres), default=0)
            centre = (
                f"mean of {n}"
                if all(c.kind in ("mean", "") for c in drawn)
                else f"median of {n}, {k} collapsed"
            )
            parent = PRUNE_PARENTS.get(method, "dense")
            xs = [min(float(_compression(c.centre[0])), X_MAX) for c in drawn]
            ax.plot(
                xs,
                [c.centre[1] for c in drawn],
                color=colors[method],
                ls=method_line(method),
                lw=1.8,
                marker=method_marker(method),
                ms=5,
                label=f"{method} (ranks the {parent} run; {centre})",
            )
        if len(dense):
            ax.axhline(
                dense.mean(),
                color="black",
                lw=0.9,
                ls=":",
                label=f"dense, unpruned (mean of {len(dense)})",
            )
        published = draw_published(ax, dataset, arch, lambda pct: float(_compression(pct)))
        ax.set_xscale("log")
        ax.set_xlim(1.8, X_MAX)
        ticks = [2, 3, 5, 10, 20, 50]
        ax.set_xticks(ticks, [f"{t}x\n({100 * (1 - 1 / t):.0f}%)" for t in ticks])
        ax.xaxis.set_minor_formatter(NullFormatter())  # no 4x10^0 between the named ticks
        ax.set_xlabel("FC compression, log axis (FC sparsity)")
        ax.set_ylabel("test accuracy (%)")
    axes[0].set_title("all points")
    if len(dense):
        top = float(max(mine["test_acc_pct"].max(), dense.max()))  # axis: not a selection
        axes[1].set_ylim(float(dense.mean()) - ZOOM_BELOW_PP, top + 0.3)
    axes[1].set_title(f"zoom: within {ZOOM_BELOW_PP:g} pp of dense")
    fig.suptitle(f"Which ranking survives pruning: {dataset} / {arch} — profile {profile}")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, fontsize=7, loc="lower center", ncol=3, bbox_to_anchor=(0.5, 0.02))
    fig.tight_layout(rect=(0, 0.2, 1, 1))
    caption = (
        f"Test accuracy vs. FC compression on {dataset} / {arch}, profile {profile}"
        f"{budget_label(profile)}, from {source}. Each ranking prunes a finished run of the "
        "same seed to the same per-layer FC sparsities and fine-tunes it alike: magnitude and "
        "random rank the dense run's weights; gate* rank a connection-gated run's effective "
        "weights W·G by its gate g (gate, gate-noise, gate-free) or by |g·W| (gate-weight*), "
        "which is magnitude pruning of that run's effective weights: a gate curve against its "
        "|g·W| twin compares rankings of the same network; against magnitude, the parents "
        "differ too. "
        "Thin lines: one seed each; thick: the mean over the seeds that ran where none "
        "collapsed (test accuracy at most twice chance), else the median sparsity and median "
        "accuracy (the legend says which: 'mean of n' or 'median of n'; "
        "diverged runs are counted in tables/paired.md); triangles on the right edge: points "
        f"past {X_MAX:g}x (a collapsed parent prunes to nearly 100%). Right: the same, zoomed "
        f"to the band within {ZOOM_BELOW_PP:g} points of dense." + published
    )
    return Plot(f"{profile}/ranking_{dataset}_{arch}", fig, caption)


def ranking_figures(
    col: Collection, points: pd.DataFrame | None, out: Path, log: Log
) -> dict[str, list[Entry]]:
    """One ranking figure per profile and pair that has a gate-ranked frontier point."""
    if points is None or points.empty:
        return {}
    ok = points[points["status"] == "ok"]
    if ok.empty or not has_gate_ranking(ok):
        return {}
    setup()
    runs = runs_table(col)
    figures: dict[str, list[Entry]] = {}
    for (profile, dataset, arch), g in ok.groupby(["profile", "dataset", "arch"], sort=True):
        if not has_gate_ranking(g):
            continue
        plot = draw(runs, ok, str(profile), str(dataset), str(arch), source_text(col, str(profile)))
        entry = publish_in_report(plot, col, str(profile), out, f"ranking {dataset} {arch}", log)
        figures.setdefault(str(profile), []).append(entry)
    return figures
