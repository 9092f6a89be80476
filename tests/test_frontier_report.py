"""The frontier figure and table (issue 12) from synthetic run directories."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest
from matplotlib.collections import PathCollection

from weightswitch.cli import main
from weightswitch.report import frontier as FR
from weightswitch.report.frontier_figure import draw as draw_frontier

PROFILE = "cpu"
LAYERS = {"fc1": 0.5, "fc2": 0.5}  # layer -> share of the FC weights
# (dataset, method, target or None, fc sparsity, test accuracy per seed 0 and 1)
RUNS = [
    ("mnist", "dense", None, 0.0, (0.980, 0.982)),
    ("mnist", "switcher", None, 0.70, (0.969, 0.971)),
    ("mnist", "switcher-noise", None, 0.60, (0.960, 0.962)),
    ("mnist", "free-gates", None, 0.50, (0.950, 0.950)),
    ("mnist", "magnitude", "matched", 0.70, (0.965, 0.965)),
    ("fashion_mnist", "dense", None, 0.0, (0.85, 0.85)),
    ("fashion_mnist", "switcher", None, 0.55, (0.84, 0.84)),
]
FRONTIER = [
    ("magnitude", 0.5, (0.977, 0.979)),
    ("magnitude", 0.9, (0.950, 0.950)),
    ("iterative", 0.5, (0.979, 0.979)),
    ("iterative", 0.9, (0.960, 0.960)),
    ("random", 0.5, (0.970, 0.970)),
    ("random", 0.9, (0.900, 0.900)),
]


def write(root: Path, dataset: str, method: str, seed: int, target, sparsity: float, acc) -> None:
    name = f"{dataset}-lenet300-{method}" + (f"-{target}" if isinstance(target, float) else "")
    run = root / PROFILE / f"{name}-s{seed}"
    run.mkdir(parents=True)
    matched = f"results/runs/{PROFILE}/{dataset}-lenet300-switcher-s{seed}"
    metrics = {
        "arch": "lenet300",
        "dataset": dataset,
        "method": method,
        "seed": seed,
        "profile": PROFILE,
        "epochs": 3,
        "test_accuracy": acc,
        "val_accuracy": acc,
        "fc_sparsity": sparsity,
        "layer_sparsity": dict.fromkeys(LAYERS, sparsity),
        "compression_ratio": 1 / (1 - 0.9 * sparsity),
        "snn_params": 0,
        "fc_macs_removed": 0,
        "matched_run": matched if target == "matched" else None,
        "target_sparsity": sparsity if target is not None else None,
    }
    (run / "metrics.json").write_text(json.dumps(metrics))


@pytest.fixture
def synth(tmp_path: Path) -> Path:
    for seed in (0, 1):
        for dataset, method, target, sparsity, accs in RUNS:
            write(tmp_path / "runs", dataset, method, seed, target, sparsity, accs[seed])
        for method, target, accs in FRONTIER:
            write(tmp_path / "frontier", "mnist", method, seed, target, target, accs[seed])
    bad = tmp_path / "frontier" / PROFILE / "mnist-lenet300-random-0.7-s0"
    bad.mkdir()
    (bad / "metrics.json").write_text("{not json")
    return tmp_path


def test_report_writes_frontier_figure_and_table(synth: Path, capsys) -> None:
    out = synth / "reports"
    args = [
        "report",
        "--results",
        str(synth / "runs"),
        "--out",
        str(out),
        "--frontier",
        str(synth / "frontier"),
    ]
    assert main(args) == 0
    # one report per grid x profile folder: PNG under figures/, PDF under pdf/
    assert (out / "figures" / "frontier_mnist_lenet300.png").stat().st_size > 0
    assert (out / "pdf" / "frontier_mnist_lenet300.pdf").stat().st_size > 0
    # no figure without its data: fashion_mnist has switcher runs but no frontier runs
    assert not list(out.rglob("frontier_fashion_mnist_lenet300.*"))
    table = pd.read_csv(out / "tables" / "frontier.csv")
    mnist = table[table["dataset"] == "mnist"].set_index(["kind", "method"])
    points = mnist.loc[("frontier", "magnitude")]
    assert list(points["target_sparsity_pct"]) == [50.0, 90.0]
    assert list(points["test_acc_pct_mean"].round(6)) == [97.8, 95.0]
    assert list(points["n"]) == [2, 2]
    # the switcher at 70 %: magnitude frontier 97.8 -> 95.0 between 50 and 90 % gives 96.4
    sw = mnist.loc[("switcher variant", "switcher")]
    assert math.isclose(sw["test_acc_pct_mean"], 97.0)
    assert math.isclose(sw["frontier_acc_pct"], 96.4)
    assert math.isclose(sw["delta_vs_frontier_pp"], 0.6)
    noise = mnist.loc[("switcher variant", "switcher-noise")]  # 60 %: 97.8 - 0.25 * 2.8
    assert math.isclose(noise["frontier_acc_pct"], 97.1)
    matched = mnist.loc[("matched pruning", "magnitude")]
    assert math.isclose(matched["frontier_acc_pct"], 96.4)
    assert set(table["kind"]) == set(FR.KINDS)
    fashion = table[table["dataset"] == "fashion_mnist"]  # no frontier there: no comparison
    assert fashion["frontier_acc_pct"].isna().all() and set(fashion["kind"]) == {
        "dense",
        "switcher variant",
    }
    md = (out / "tables" / "frontier.md").read_text()
    assert "98.50" in md and FR.FLOOR_PROVENANCE in md and "97.00 ± 0.14" in md
    readme = (out / "README.md").read_text()
    assert "frontier_mnist_lenet300.png" in readme and "frontier.md" in readme
    assert "frontier_fashion_mnist" not in readme
    assert "mnist-lenet300-random-0.7-s0" in capsys.readouterr().err  # the corrupt one, named


def test_reference_claims_drawn_only_where_they_apply(synth: Path) -> None:
    runs = pd.DataFrame(
        [
            {
                "profile": PROFILE,
                "dataset": d,
                "arch": "lenet300",
                "method": m,
                "status": "ok",
                "fc_sparsity_pct": 100 * s,
                "test_acc_pct": 100 * a[0],
            }
            for d, m, _, s, a in RUNS
        ]
    )
    points = FR.collect_frontier(synth / "frontier", PROFILE, [])
    for dataset, expected in (("mnist", 2), ("fashion_mnist", 0)):
        plot = draw_frontier(runs, points, PROFILE, dataset, "lenet300", "synthetic")
        labels = plot.figure.axes[0].get_legend_handles_labels()[1]
        floors = [label for label in labels if FR.FLOOR_PROVENANCE in label]
        assert len(floors) == expected, labels
        assert "switcher: 1 seed" in labels
        assert sum("(frontier)" in label for label in labels) == (3 if dataset == "mnist" else 0)
        assert ("dashed" in plot.caption) == (expected > 0)
    assert {c.test_accuracy_pct for c in FR.claims("mnist", "lenet5")} == {99.29, 99.32}


def test_a_collapsed_seed_moves_the_marker_to_the_medians(synth: Path) -> None:
    """Seeds 97.1, 96.7 and 9.8 %: their mean, 67.9 %, is where no run is (and mean ± std
    would reach 118 %). Each seed is drawn (the collapsed one hollow), the large marker is the
    median sparsity and median accuracy (each on its own, as the tables give them), and its bars
    span the seeds, min to max."""
    runs = pd.DataFrame(
        [
            {
                "profile": PROFILE,
                "dataset": "mnist",
                "arch": "lenet300",
                "method": m,
                "status": "ok",
                "fc_sparsity_pct": s,
                "test_acc_pct": a,
            }
            for m, s, a in (
                ("dense", 0.0, 97.0),
                ("switcher", 1.4, 97.1),
                ("switcher", 0.1, 96.7),
                ("switcher", 61.7, 9.8),
            )
        ]
    )
    points = FR.collect_frontier(synth / "frontier", PROFILE, [])
    plot = draw_frontier(runs, points, PROFILE, "mnist", "lenet300", "synthetic")
    ax = plot.figure.axes[0]
    blue = [
        c
        for c in ax.collections
        if isinstance(c, PathCollection)
        and len(c.get_offsets())
        and tuple(c.get_edgecolor()[0][:3]) == pytest.approx((0, 0x72 / 255, 0xB2 / 255))
    ]
    seeds = sorted(y for c in blue for y in c.get_offsets()[:, 1])
    assert seeds == pytest.approx([9.8, 96.7, 97.1])  # every seed its own marker
    hollow = [c for c in blue if not len(c.get_facecolor())]
    assert [list(c.get_offsets()[:, 1]) for c in hollow] == [pytest.approx([9.8])]
    (sw,) = [c for c in ax.containers if c.get_label() == "switcher: median of 3 (1 collapsed)"]
    marker, _, (xbar, ybar) = sw.lines  # bars: [[x_lo, y], [x_hi, y]], [[x, y_lo], ...]
    assert (marker.get_xdata()[0], marker.get_ydata()[0]) == pytest.approx((1.4, 96.7))
    (x_seg,), (y_seg,) = xbar.get_segments(), ybar.get_segments()
    assert (x_seg[0][0], x_seg[1][0]) == pytest.approx((0.1, 61.7))
    assert (y_seg[0][1], y_seg[1][1]) == pytest.approx((9.8, 97.1))
    assert "median sparsity" in plot.caption and "std" not in plot.caption


def test_frontier_compared_per_run_not_at_the_mean_sparsity() -> None:
    """Seeds at 0 % and 90 % sparsity: the frontier at their mean (45 %) is 98.0, but each run
    sits on the frontier at its own sparsity, so the gap is 0 ± 0, not -9.5."""
    dense, cliff = 98.0, 79.0  # frontier: 98.0 at 0 and 50 %, 79.0 at 90 %
    runs = pd.DataFrame(
        [
            {
                "profile": PROFILE,
                "dataset": "mnist",
                "arch": "lenet300",
                "method": m,
                "status": "ok",
                "fc_sparsity_pct": s,
                "test_acc_pct": a,
            }
            for m, s, a in (
                ("dense", 0.0, dense),
                ("switcher", 0.0, dense),
                ("switcher", 90.0, cliff),
                ("magnitude", 90.0, cliff - 1),
            )
        ]
    )
    points = pd.DataFrame(
        [
            {
                "profile": PROFILE,
                "dataset": "mnist",
                "arch": "lenet300",
                "method": "magnitude",
                "seed": 0,
                "target_sparsity_pct": t,
                "fc_sparsity_pct": t,
                "test_acc_pct": a,
            }
            for t, a in ((50.0, dense), (90.0, cliff))
        ]
    )
    table = FR.frontier_table(runs, points).set_index(["kind", "method"])
    sw = table.loc[("switcher variant", "switcher")]
    assert math.isclose(sw["fc_sparsity_pct_mean"], 45.0) and math.isclose(
        sw["fc_sparsity_pct_std"], 90.0 / math.sqrt(2)
    )
    assert math.isclose(sw["frontier_acc_pct"], (dense + cliff) / 2)
    assert sw["delta_vs_frontier_pp"] == 0.0 and sw["delta_vs_frontier_pp_std"] == 0.0
    matched = table.loc[("matched pruning", "magnitude")]  # one run: no std
    assert math.isclose(matched["delta_vs_frontier_pp"], -1.0)
    assert math.isnan(matched["delta_vs_frontier_pp_std"])
    shown = FR.display(table.reset_index()).set_index(["kind", "method"])
    assert shown.loc[("switcher variant", "switcher"), "delta"] == "+0.00 ± 0.00"
    assert shown.loc[("switcher variant", "switcher"), "sparsity"] == "45.00 ± 63.64"
    assert shown.loc[("matched pruning", "magnitude"), "delta"] == "-1.00 ± —"
