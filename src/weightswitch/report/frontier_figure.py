"""The frontier figure (issue 12): test accuracy vs FC sparsity per dataset/arch, the pruning
frontier's curves with dense, the switcher and its ablations, and the reference's claimed
accuracies as lines named with their provenance (never pooled with measurements).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd

from weightswitch.catalog import CATALOG
from weightswitch.report.collect import PAIR, STATUS_OK, Collection
from weightswitch.report.frontier import (
    DENSE_FRONTIER,
    FLOOR_PROVENANCE,
    FRONTIER_METHODS,
    VARIANTS,
    allocation_text,
    claimed_method,
    claims,
    finished,
    report_table,
)
from weightswitch.report.index import Entry, budget_label, source_text
from weightswitch.report.plots import (
    SEED_NOTE,
    Plot,
    draw_dense_reference,
    draw_published,
    draw_seeds,
    publish_in_report,
    setup,
)
from weightswitch.report.references import dense_reference
from weightswitch.report.seeds import collapsed, summarise_seeds
from weightswitch.report.style import method_colors, method_line
from weightswitch.report.tables import runs_table


def _ok(runs: pd.DataFrame, profile: str, dataset: str, arch: str) -> pd.DataFrame:
    sel = runs[(runs["profile"] == profile) & (runs["dataset"] == dataset) & (runs["arch"] == arch)]
    return sel[sel["status"] == STATUS_OK] if "status" in sel else sel


def draw(
    runs: pd.DataFrame, points: pd.DataFrame, profile: str, dataset: str, arch: str, source: str
) -> Plot:
    """Test accuracy vs FC sparsity: the frontier curves (`points`: one row per frontier
    run), dense and every switcher variant (`runs`: one row per run, as `tables.runs_table`),
    every seed its own marker (`plots.draw_seeds`)."""
    import matplotlib.pyplot as plt  # after plots has chosen the Agg backend

    ok = _ok(runs, profile, dataset, arch)
    ok = ok.assign(fc_sparsity_pct=ok["fc_sparsity_pct"].where(ok["method"] != "dense", 0.0))
    mine = _ok(points, profile, dataset, arch)
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    colors = method_colors([*ok["method"].unique(), *FRONTIER_METHODS])
    dense = ok[ok["method"] == "dense"]
    origin = (
        draw_seeds(
            ax, dense["fc_sparsity_pct"], dense["test_acc_pct"], dataset, "dense", colors["dense"]
        ).centre
        if len(dense)
        else None
    )
    for method in DENSE_FRONTIER:
        pts = mine[mine["method"] == method]
        if pts.empty:
            continue
        curve = [origin] if origin else []
        for _, g in pts.groupby("target_sparsity_pct"):
            x, y = g["fc_sparsity_pct"], g["test_acc_pct"]
            centre = summarise_seeds(x, y, collapsed(y, dataset)).centre
            curve.append(centre or (float(x.median()), float(y.median())))
        ax.plot(
            *zip(*curve, strict=True),
            color=colors[method],
            ls=method_line(method),
            marker=".",
            ms=6,
            lw=1.3,
            label=f"{method} pruning (frontier)",
        )
        ax.scatter(
            pts["fc_sparsity_pct"],
            pts["test_acc_pct"],
            s=9,
            color=colors[method],
            alpha=0.6,
            zorder=4,
        )
    for method in [m for m in VARIANTS if m in set(ok["method"])]:
        seeds = ok[ok["method"] == method]
        draw_seeds(
            ax, seeds["fc_sparsity_pct"], seeds["test_acc_pct"], dataset, method, colors[method]
        )
    for i, claim in enumerate(claims(dataset, arch)):
        ax.axhline(
            claim.test_accuracy_pct,
            color=colors.get(claimed_method(claim), "0.3"),
            ls=("--", "-.")[i % 2],
            lw=1,
            label=f"{claimed_method(claim)} {claim.test_accuracy_pct:.2f}: {FLOOR_PROVENANCE}",
        )
    dense_line = draw_dense_reference(ax, dense_reference(dataset, arch), "Han 2015")
    published = draw_published(ax, dataset, arch, lambda pct: pct)
    ax.set_title(f"{dataset} / {arch} — profile {profile}")
    ax.set_xlabel("FC sparsity (%)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_xlim(-3, 101)
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.15), ncol=2)
    fig.tight_layout()
    variants = "; ".join(
        f"{m}: {CATALOG[m].description}" for m in VARIANTS if m in set(ok["method"])
    )
    curves = ", ".join(
        f"{m} ({CATALOG[m].description})" for m in DENSE_FRONTIER if (mine["method"] == m).any()
    )
    caption = (
        f"Test accuracy vs. FC sparsity on {dataset} / {arch}, profile {profile}"
        f"{budget_label(profile)}, from {source}. Curves: the dense run (sparsity 0) pruned per "
        f"layer to fixed FC sparsities by {curves}; each curve point is the seeds' mean, or "
        "their median where some collapsed; small dots: the frontier runs. Markers: "
        f"{variants or 'no switcher variant'}, at the sparsity their gates reached. {SEED_NOTE}"
    ) + allocation_text(mine)
    lines = []
    if claims(dataset, arch):
        lines.append(
            f"dashed, the accuracy the reference code reports at least ({FLOOR_PROVENANCE})"
        )
    if dense_line:
        lines.append("dotted, a published dense accuracy")
    if lines:
        caption += f" Horizontal lines are not measurements of this suite: {'; '.join(lines)}."
    caption += published
    return Plot(f"{profile}/frontier_{dataset}_{arch}", fig, caption)


def frontier_figures(
    col: Collection, points: pd.DataFrame | None, out: Path, log: Callable[[str], None]
) -> dict[str, list[Entry]]:
    """One frontier figure per profile and pair of the report's frontier table that has
    frontier runs (`points`: `frontier.report_points`); their index entries per profile."""
    table = report_table(col, points)
    if table is None:
        return {}
    setup()
    ok = finished(points)
    ran = table[table["kind"] == "frontier"]  # a frontier figure only where a frontier ran
    figures: dict[str, list[Entry]] = {}
    for profile, dataset, arch in sorted(set(map(tuple, ran[list(PAIR)].to_numpy()))):
        plot = draw(runs_table(col), ok, profile, dataset, arch, source_text(col, profile))
        entry = publish_in_report(plot, col, profile, out, f"frontier {dataset} {arch}", log)
        figures.setdefault(profile, []).append(entry)
    return figures
