"""The report's own figures, drawn only from the tidy tables (ShrinkBench style: no metric is
computed here): accuracy vs sparsity, training curves, per-layer sparsity, gate histograms and
gate maps; `write_figures` draws and publishes every one of them per profile.

Every function returns `Plot`s (a matplotlib figure, a file stem and a caption saying what
data, profile and seeds it shows), or nothing where there is no data to show. Small multiples
wrap at `COLUMNS` panels per row, so a figure stays readable on a laptop screen (about 1,600
pixels wide at 150 dpi). Several seeds are drawn as `report.plots` says.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator

from weightswitch.catalog import method_order
from weightswitch.gate_images import ZERO_COLOR, zero_colormap
from weightswitch.report.collect import STATUS_DIVERGED, STATUS_OK, Collection
from weightswitch.report.gates import GateMap
from weightswitch.report.index import Entry, source_text
from weightswitch.report.plots import (
    SEED_NOTE,
    Plot,
    draw_dense_reference,
    draw_seeds,
    fit_accuracy_axis,
    publish_in_report,
    setup,
)
from weightswitch.report.records import load_gate_data
from weightswitch.report.references import dense_reference
from weightswitch.report.style import method_colors, method_hatch
from weightswitch.report.tables import runs_table

COLUMNS = 3  # small multiples per row
PHASES = ("warmup", "dense", "tnn", "snn", "finetune")
_EXTRA = ("#009E73", "#E69F00", "#F0E442", "#999999")  # phases beyond the five known
_PHASE_COLORS = ("#E69F00", "#000000", "#0072B2", "#D55E00", "#009E73")
_MARKERS = {"warmup": "o", "dense": "s", "tnn": "^", "snn": "v", "finetune": "D"}


def phase_colors(phases: Sequence[str]) -> dict[str, str]:
    order = list(PHASES) + sorted(set(phases) - set(PHASES))
    pal = [*_PHASE_COLORS, *_EXTRA]
    return {p: pal[i % len(pal)] for i, p in enumerate(order)}


def _seeds(df: pd.DataFrame) -> str:
    seeds = sorted(int(s) for s in df["seed"].unique())
    return ", ".join(map(str, seeds)) if seeds else "none"


def _grid(n: int, ncols: int = COLUMNS, size: tuple[float, float] = (4.2, 3.4)):
    ncols = max(1, min(ncols, n))
    nrows = math.ceil(n / ncols)
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(size[0] * ncols, size[1] * nrows), squeeze=False
    )
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    return fig, list(axes.flat[:n])


def _pairs(df: pd.DataFrame) -> list[tuple[str, str]]:
    return sorted({(d, a) for d, a in zip(df["dataset"], df["arch"], strict=True)})


def accuracy_vs_sparsity(runs: pd.DataFrame, profile: str, source: str) -> Plot | None:
    """(a) test accuracy vs FC sparsity per method; dense sits at sparsity 0. Only pairs with
    a finished sparse run are drawn (a panel of dense points alone answers nothing)."""
    mine = runs[runs["profile"] == profile]
    ok = mine[mine["status"] == STATUS_OK].copy()
    dense = ok["method"] == "dense"
    ok.loc[dense, "fc_sparsity_pct"] = ok.loc[dense, "fc_sparsity_pct"].fillna(0.0)
    ok = ok.dropna(subset=["test_acc_pct", "fc_sparsity_pct"])
    pairs = _pairs(ok[ok["method"] != "dense"])
    if not pairs:
        return None
    colors = method_colors(ok["method"].unique())
    published: list[str] = []
    fig, axes = _grid(len(pairs), ncols=2, size=(5.0, 4.6))  # room for a legend of 9 methods
    for ax, (dataset, arch) in zip(axes, pairs, strict=True):
        sel = ok[(ok["dataset"] == dataset) & (ok["arch"] == arch)]
        gone = mine[
            (mine["dataset"] == dataset)
            & (mine["arch"] == arch)
            & (mine["status"] == STATUS_DIVERGED)
        ]
        for method in method_order(sel["method"].unique()):
            m = sel[sel["method"] == method]
            draw_seeds(
                ax,
                m["fc_sparsity_pct"],
                m["test_acc_pct"],
                dataset,
                method,
                colors[method],
                diverged=int((gone["method"] == method).sum()),
            )
        ref = dense_reference(dataset, arch)
        fit_accuracy_axis(
            ax,
            sel["fc_sparsity_pct"],
            sel["test_acc_pct"],
            dataset,
            also=[ref.test_accuracy_pct] if ref is not None and ref.test_accuracy_pct else [],
        )
        if draw_dense_reference(ax, ref, "ref."):
            published.append(f"{dataset}/{arch}")
        ax.set_title(f"{dataset} / {arch}")
        ax.set_xlabel("FC sparsity (%)")
        ax.set_ylabel("test accuracy (%)")
        ax.set_xlim(-3, 103)
        ax.legend(
            fontsize=6.5,
            loc="upper center",
            bbox_to_anchor=(0.5, -0.2),
            ncol=2,
            columnspacing=0.8,
            handletextpad=0.3,
        )
    fig.tight_layout()
    caption = (
        f"Test accuracy vs. FC sparsity per method. Profile {profile}; seeds {_seeds(ok)}; "
        f"{len(ok)} completed runs from {source}. {SEED_NOTE} Dense runs sit at sparsity 0; "
        "magnitude and random pruning are set to the switcher's sparsity."
    )
    if published:
        caption += (
            f" The dotted grey line ({', '.join(published)}) is a published dense accuracy (see "
            "the reference table), not a measurement of this suite."
        )
    return Plot(f"{profile}/accuracy_vs_sparsity", fig, caption)


CURVES = (("val_accuracy", "val. accuracy (%)", 100.0), ("train_loss", "train loss", 1.0))


def training_curves(history: pd.DataFrame, profile: str, source: str) -> list[Plot]:
    """(b) validation accuracy and training loss per epoch, coloured and marked by phase: one
    cell per method (accuracy above loss), `COLUMNS` cells per row."""
    hist = history[history["profile"] == profile]
    plots: list[Plot] = []
    colors = phase_colors(hist["phase"].astype(str).unique())
    for dataset, arch in _pairs(hist):
        sel = hist[(hist["dataset"] == dataset) & (hist["arch"] == arch)]
        methods = method_order(sel["method"].unique())
        ncols = min(COLUMNS, len(methods))
        nrows = math.ceil(len(methods) / ncols)
        height = 3.4 * nrows + 1.0  # inches: the cells, then the title and legend above them
        fig = plt.figure(figsize=(3.5 * ncols, height))
        margins = {
            "left": 0.3 / ncols,
            "right": 0.99,
            "bottom": 0.5 / height,
            "top": 1 - 1.05 / height,
        }
        outer = fig.add_gridspec(nrows, ncols, wspace=0.38, hspace=0.3, **margins)
        handles = {}
        for k, method in enumerate(methods):
            m = sel[sel["method"] == method]
            cell = outer[k // ncols, k % ncols].subgridspec(2, 1, hspace=0.08)
            top = fig.add_subplot(cell[0])
            axes = (top, fig.add_subplot(cell[1], sharex=top))
            for ax, (col, label, scale) in zip(axes, CURVES, strict=True):
                for _, run in m.groupby("seed"):
                    run = run.sort_values("epoch")
                    ax.plot(run["epoch"], run[col] * scale, color="0.7", lw=0.8, zorder=1)
                for phase, p in m.groupby("phase"):
                    handles[str(phase)] = ax.scatter(
                        p["epoch"],
                        p[col] * scale,
                        s=12,
                        color=colors[str(phase)],
                        marker=_MARKERS.get(str(phase), "o"),
                        label=str(phase),
                        zorder=2,
                    )
                ax.xaxis.set_major_locator(MaxNLocator(integer=True))
                ax.set_ylabel(label, fontsize=8)
            axes[1].set_xlabel("epoch")
            axes[0].tick_params(labelbottom=False)
            word = "seed" if m["seed"].nunique() == 1 else "seeds"
            axes[0].set_title(f"{method} ({word} {_seeds(m)})", fontsize=9)
        order = [p for p in colors if p in handles]
        fig.suptitle(
            f"{dataset} / {arch} — training curves ({profile})", y=1 - 0.05 / height, va="top"
        )
        fig.legend(
            [handles[p] for p in order],
            order,
            title="phase",
            loc="upper center",
            bbox_to_anchor=(0.5, 1 - 0.35 / height),
            ncol=len(order),
        )
        caption = (
            f"Training curves of {dataset}/{arch}: one panel pair per method, validation "
            f"accuracy (top) and training loss (bottom) per epoch, marker colour and shape = "
            f"training phase (warmup, dense, tnn = task-network epochs, snn = switcher epochs, "
            f"finetune). Grey lines join the epochs of one seed. Profile {profile}; seeds "
            f"{_seeds(sel)}; history.csv of {sel.groupby(['method', 'seed']).ngroups} runs "
            f"from {source}."
        )
        plots.append(Plot(f"{profile}/training_curves_{dataset}_{arch}", fig, caption))
    return plots


def layer_sparsity(layers: pd.DataFrame, profile: str, source: str) -> Plot | None:
    """(c) sparsity of each switched layer, one bar per method (mean over seeds, whisker the
    range), every seed a dot on its bar."""
    sel = layers[layers["profile"] == profile]
    if sel.empty:
        return None
    sel = sel.assign(sparsity_pct=sel["sparsity"] * 100)
    flat = sel.groupby("method")["sparsity_pct"].max()
    omitted = method_order([m for m, v in flat.items() if v == 0])
    sel = sel[~sel["method"].isin(omitted)]
    if sel.empty:
        return None
    colors = method_colors(sel["method"].unique())
    pairs = _pairs(sel)
    fig, axes = _grid(len(pairs), size=(4.8, 3.4))
    for ax, (dataset, arch) in zip(axes, pairs, strict=True):
        p = sel[(sel["dataset"] == dataset) & (sel["arch"] == arch)]
        hue_order = method_order(p["method"].unique())
        order = list(p.sort_values("order")["layer"].drop_duplicates())
        sns.barplot(
            data=p,
            x="layer",
            y="sparsity_pct",
            hue="method",
            order=order,
            hue_order=hue_order,
            palette=colors,
            errorbar=("pi", 100),  # min to max over seeds
            capsize=0.1,
            err_kws={"linewidth": 1},
            ax=ax,
        )
        for bars, method in zip(ax.containers, hue_order, strict=False):
            for bar in bars:
                bar.set_hatch(method_hatch(method))
                bar.set_edgecolor("white")
        sns.stripplot(
            data=p,
            x="layer",
            y="sparsity_pct",
            hue="method",
            order=order,
            hue_order=hue_order,
            dodge=True,
            jitter=False,
            size=3,
            color="0.15",
            palette=dict.fromkeys(hue_order, "0.15"),
            legend=False,
            ax=ax,
        )
        ax.set_title(f"{dataset} / {arch}")
        ax.set_ylabel("sparsity (%)")
        ax.set_xlabel("switched layer")
        ax.set_ylim(0, 100)
        handles = [
            Patch(facecolor=colors[m], hatch=method_hatch(m), edgecolor="white", label=m)
            for m in hue_order
        ]
        ax.legend(
            handles=handles, fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=3
        )
    fig.tight_layout()
    caption = (
        f"Per-layer sparsity (fraction of exactly-zero effective weights) of every switched FC "
        f"layer, by method: bar = mean over seeds, whisker = range over seeds (min to max), "
        f"dots = the single seeds. "
        f"Profile {profile}; seeds {_seeds(sel)}; layer_sparsity of metrics.json from {source}."
    )
    if omitted:
        caption += f" Not drawn (0% in every layer): {', '.join(omitted)}."
    return Plot(f"{profile}/layer_sparsity", fig, caption)


def gate_histograms(hist: pd.DataFrame, profile: str, source: str) -> Plot | None:
    """(d) distribution of positive gates (log count) with the zero spike counted apart."""
    sel = hist[hist["profile"] == profile]
    if sel.empty:
        return None
    panels = sorted(
        {(d, a, m, int(s)) for d, a, m, s in sel[["dataset", "arch", "method", "seed"]].values}
    )
    fig, axes = _grid(len(panels), ncols=2, size=(5.0, 3.4))
    for ax, (dataset, arch, method, seed) in zip(axes, panels, strict=True):
        p = sel[(sel["dataset"] == dataset) & (sel["arch"] == arch) & (sel["method"] == method)]
        layers = list(p.sort_values("order")["layer"].drop_duplicates())
        pal = sns.color_palette("viridis", max(len(layers), 2))
        notes = []
        for k, layer in enumerate(layers):
            h = p[p["layer"] == layer]
            edges = np.append(h["left"].to_numpy(), h["right"].to_numpy()[-1])
            ax.stairs(h["count"].to_numpy(), edges, color=pal[k], lw=1.2, label=layer)
            zeros, total = int(h["zeros"].iloc[0]), int(h["total"].iloc[0])
            if zeros:
                ax.plot([0], [zeros], marker="D", ms=7, color=pal[k], mec="black", ls="none")
            notes.append(f"{layer}: {100 * zeros / total:.1f}% zero ({zeros:,} of {total:,})")
        ax.set_yscale("log")
        ax.set_xlabel("gate value (zero gates: ◆ at x = 0)")
        ax.set_ylabel("count")
        ax.set_title(f"{dataset} / {arch} — {method} (seed {seed})", fontsize=9)
        ax.text(
            0.98,
            0.97,
            "\n".join(notes),
            transform=ax.transAxes,
            ha="right",
            va="top",
            fontsize=7,
            bbox={"boxstyle": "round", "fc": "white", "alpha": 0.85},
        )
        ax.legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    caption = (
        f"Gate histograms of the switcher runs (connection and neuron granularity): counts of "
        f"the positive gates per switched layer on a log scale; the exactly-zero gates (the "
        f"switched-off connections) are counted apart, drawn as a diamond at 0 and annotated "
        f"with their share. One run per panel, the lowest seed that has gates.pt (seeds shown: "
        f"{_seeds(sel)}). Profile {profile}; gates.pt from {source}."
    )
    return Plot(f"{profile}/gate_histograms", fig, caption)


def gate_maps(maps: list[GateMap], profile: str, source: str) -> list[Plot]:
    """(e) gate images (in x out) of the connection switcher; zero gates in a distinct colour."""
    mine = [g for g in maps if g.ident["profile"] == profile]
    plots: list[Plot] = []
    for dataset, arch in sorted({(g.ident["dataset"], g.ident["arch"]) for g in mine}):
        layer_maps = [g for g in mine if (g.ident["dataset"], g.ident["arch"]) == (dataset, arch)]
        fig, axes = _grid(len(layer_maps), size=(3.6, 4.0))
        cmap = zero_colormap()
        for ax, g in zip(axes, layer_maps, strict=True):
            im = ax.imshow(g.masked(), cmap=cmap, aspect="auto", interpolation="nearest")
            ax.grid(False)
            fig.colorbar(
                im,
                ax=ax,
                fraction=0.046,
                pad=0.04,
                label="gate (block mean)" if g.pooled else "gate",
            )
            pooled = f", shown {g.block[0]}x{g.block[1]}-pooled" if g.pooled else ""
            ax.set_title(
                f"{g.layer}: {g.shape[0]}x{g.shape[1]}{pooled}\n{100 * g.zero_fraction:.1f}% zero",
                fontsize=9,
            )
            ax.set_xlabel("output unit" + (" (block)" if g.pooled else ""))
            ax.set_ylabel("input unit" + (" (block)" if g.pooled else ""))
        seed = layer_maps[0].ident["seed"]
        fig.legend(
            handles=[Patch(color=ZERO_COLOR, label="exactly 0: connection switched off")],
            loc="upper right",
            bbox_to_anchor=(0.995, 0.955),
            fontsize=8,
            frameon=False,
        )
        fig.suptitle(f"{dataset} / {arch} — switcher gates, seed {seed} ({profile})")
        fig.tight_layout(rect=(0, 0, 1, 0.94))  # room for the zero-colour key
        pooled = [g for g in layer_maps if g.pooled]
        note = (
            " Large layers are downsampled for display by block pooling ("
            + ", ".join(f"{g.layer}: {g.block[0]}x{g.block[1]} blocks" for g in pooled)
            + "): colour = block mean of the gates, and a block is drawn in the zero colour "
            "only if every gate in it is exactly zero."
            if pooled
            else " Full resolution, one pixel per connection."
        )
        caption = (
            f"Gate maps of the connection switcher on {dataset}/{arch}, laid out input x output "
            f"(rows = input units, columns = output units, as the switcher sees the weight "
            f"image); exactly-zero gates (connections switched off) in red, positive gates on "
            f"the viridis scale. Profile {profile}; seed {seed} (lowest seed with gates.pt); "
            f"gates.pt from {source}.{note}"
        )
        plots.append(Plot(f"{profile}/gate_maps_{dataset}_{arch}", fig, caption))
    return plots


def write_figures(
    col: Collection, out: Path, records: Path, log: Callable[[str], None]
) -> tuple[dict[str, list[Entry]], list[str]]:
    """Draw and save every figure per profile; return index entries and skip notes. Gate
    figures draw the reduced gate data of the report's records (never gates.pt directly), so
    a rebuild from git alone draws the same pixels."""
    setup()
    runs = runs_table(col)
    hist, maps = load_gate_data(records)
    figures: dict[str, list[Entry]] = {}
    notes: list[str] = []
    for profile in sorted(col.ok["profile"].unique()):
        source = source_text(col, profile)
        plots = [
            accuracy_vs_sparsity(runs, profile, source),
            *training_curves(col.history, profile, source),
            layer_sparsity(col.layers, profile, source),
            gate_histograms(hist, profile, source),
            *gate_maps(maps, profile, source),
        ]
        if not (hist["profile"] == profile).any():
            notes.append(
                f"{profile}: gate histograms and gate maps skipped: no switcher run "
                "with a readable gates.pt."
            )
        elif not any(m.ident["profile"] == profile for m in maps):
            notes.append(f"{profile}: gate maps skipped: no connection-switcher run with gates.pt.")
        if not (col.layers["profile"] == profile).any():
            notes.append(f"{profile}: per-layer sparsity figure skipped: no layer_sparsity.")
        if not (col.history["profile"] == profile).any():
            notes.append(f"{profile}: training curves skipped: no readable history.csv.")
        figures[profile] = [
            publish_in_report(plot, col, profile, out, _title(plot), log)
            for plot in filter(None, plots)
        ]
    return figures, notes


def _title(plot: Plot) -> str:
    """A figure's index title: its file name in words ('gate maps mnist lenet300')."""
    return plot.stem.split("/")[-1].replace("_", " ")
