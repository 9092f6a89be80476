"""Issue 28's report pieces from synthetic run directories: the paired table with each side's
epochs, a diverged frontier run counted, Spearman(g, |W|), the README's conclusions by the
wording rule, the gate-ranking figure only where gate-ranked runs exist, Han et al.'s stars."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from weightswitch.cli import main
from weightswitch.report import stats as S
from weightswitch.report.frontier_figure import draw as draw_frontier

PROFILE = "cpu"
DENSE = (97.0, 96.8, 97.1)
SWITCHER = (97.2, 96.9, 97.5)
MAGNITUDE_90 = (96.9, 96.6, 97.0)
GATE_90 = (95.0, 94.6, None)  # seed 2 diverged
GATE_WEIGHT_90 = (96.0, 95.9, 96.1)  # |g·W|: magnitude pruning of the same gated parents
RHO = {"fc1": (-0.10, -0.12, -0.08), "fc2": (0.30, 0.35, 0.40)}  # last epoch, per seed


def _run(root: Path, name: str, metrics: dict) -> None:
    run = root / PROFILE / name
    run.mkdir(parents=True)
    (run / "metrics.json").write_text(json.dumps(metrics))


def _metrics(method: str, seed: int, acc: float, epochs: int, target=None, **extra) -> dict:
    return {
        "arch": "lenet300",
        "dataset": "mnist",
        "method": method,
        "seed": seed,
        "profile": PROFILE,
        "epochs": epochs,
        "test_accuracy": acc / 100,
        "val_accuracy": acc / 100,
        "fc_sparsity": target or 0.0,
        "layer_sparsity": {"fc1": target or 0.0, "fc2": target or 0.0},
        "compression_ratio": 1.0,
        "snn_params": 0,
        "fc_macs_removed": 0,
        "matched_run": None,
        "target_sparsity": target,
        **extra,
    }


@pytest.fixture
def synth(tmp_path: Path) -> Path:
    runs, front = tmp_path / "runs", tmp_path / "frontier"
    for seed in range(3):
        _run(runs, f"mnist-lenet300-dense-s{seed}", _metrics("dense", seed, DENSE[seed], 6))
        spearman = [
            {"epoch": e, **{k: v[seed] * e / 3 for k, v in RHO.items()}} for e in (1, 2, 3)
        ]  # the last epoch's values are RHO's
        _run(
            runs,
            f"mnist-lenet300-switcher-s{seed}",
            _metrics("switcher", seed, SWITCHER[seed], 6, gate_weight_spearman=spearman),
        )
        _run(
            front,
            f"mnist-lenet300-magnitude-0.9-s{seed}",
            _metrics(
                "magnitude",
                seed,
                MAGNITUDE_90[seed],
                12,
                target=0.9,
                allocation="uniform",
                output_layer="fc2",
            ),
        )
        if GATE_90[seed] is not None:
            _run(
                front,
                f"mnist-lenet300-gate-0.9-s{seed}",
                _metrics("gate", seed, GATE_90[seed], 12, target=0.9),
            )
        _run(
            front,
            f"mnist-lenet300-gate-weight-0.9-s{seed}",
            _metrics("gate-weight", seed, GATE_WEIGHT_90[seed], 12, target=0.9),
        )
    diverged = front / PROFILE / "mnist-lenet300-gate-0.9-s2"
    diverged.mkdir(parents=True)
    identity = {
        "config": {
            "arch": "lenet300",
            "dataset": "mnist",
            "method": "gate",
            "seed": 2,
            "profile": PROFILE,
            "prune": {"sparsity": 0.9},
        }
    }
    (diverged / "diverged.json").write_text(
        json.dumps({"identity": identity, "message": "loss is NaN"})
    )
    return tmp_path


def _report(synth: Path) -> Path:
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
    return out


def test_paired_table_names_epochs_and_counts_a_diverged_frontier_run(synth: Path) -> None:
    out = _report(synth)
    paired = pd.read_csv(out / "tables" / "paired.csv")
    gate = paired[(paired["kind"] == "frontier vs magnitude") & (paired["method"] == "gate")]
    assert len(gate) == 1
    gate = gate.iloc[0]
    assert (gate["n_pairs"], gate["n_diverged"], gate["n_runs"]) == (2, 1, 3)
    assert (gate["epochs"], gate["baseline_epochs"]) == (12, 12)
    expected = S.paired_interval(dict(enumerate(GATE_90[:2])), dict(enumerate(MAGNITUDE_90)))
    assert gate["diff_pp_mean"] == pytest.approx(expected.estimate)
    assert gate["claim"] == S.claim(expected)
    md = (out / "tables" / "paired.md").read_text()
    assert "gate at 90% (12 ep) − magnitude at 90% (12 ep)" in md
    same = paired[paired["kind"] == "gate vs |g·W|, same parent"]
    assert list(same["method"]) == ["gate"] and list(same["baseline"]) == ["gate-weight"]
    expected = S.paired_interval(dict(enumerate(GATE_90[:2])), dict(enumerate(GATE_WEIGHT_90)))
    assert same.iloc[0]["diff_pp_mean"] == pytest.approx(expected.estimate)
    assert "gate at 90% (12 ep) − gate-weight at 90% (12 ep)" in md


def test_conclusions_follow_the_wording_rule_and_name_the_budget(synth: Path) -> None:
    readme = (_report(synth) / "README.md").read_text()
    block = readme.split("## Exploratory comparisons", 1)[1].split("\n## ", 1)[0]
    sw = S.paired_interval(dict(enumerate(SWITCHER)), dict(enumerate(DENSE)))
    assert not sw.excludes_zero  # so the text must not claim it
    assert f"switcher (6 ep) − dense (6 ep): {S.claim(sw)}" in block
    assert "no detectable difference (95% CI" in block
    gate = S.paired_interval(dict(enumerate(GATE_90[:2])), dict(enumerate(MAGNITUDE_90)))
    assert gate.excludes_zero and gate.estimate < 0
    assert "gate (12 ep) − magnitude (12 ep) at 90% FC sparsity: lower: " in block
    assert "profile `cpu`" in block and "6 epochs per run" in block  # its budget


def test_spearman_table_is_the_last_epoch_averaged_through_fisher_z(synth: Path) -> None:
    out = _report(synth)
    table = pd.read_csv(out / "tables" / "gate_spearman.csv").set_index("layer")
    for layer, values in RHO.items():
        ci = S.correlation_interval(values)  # through Fisher's z: inside (-1, 1)
        assert table.loc[layer, "rho_mean"] == pytest.approx(ci.estimate, rel=1e-5)
        assert table.loc[layer, "rho_ci_low"] == pytest.approx(ci.low, rel=1e-5)
        assert table.loc[layer, "n"] == 3
    epochs = pd.read_csv(out / "tables" / "gate_spearman_epochs.csv")
    assert len(epochs) == 3 * 3 * 2  # seeds x epochs x layers


def test_ranking_figure_only_where_gate_ranked_runs_exist(synth: Path) -> None:
    out = _report(synth)
    assert (out / "figures" / "ranking_mnist_lenet300.png").stat().st_size > 0
    assert "ranking_mnist_lenet300.png" in (out / "README.md").read_text()
    for path in (synth / "frontier" / PROFILE).glob("mnist-lenet300-gate-*"):
        for f in path.iterdir():
            f.unlink()
        path.rmdir()
    again = _report(synth)
    assert not list(again.rglob("ranking_*")), "a ranking figure without gate-ranked runs"


def test_frontier_figure_draws_han_2015_as_labelled_stars() -> None:
    runs = pd.DataFrame(
        [
            {
                "profile": PROFILE,
                "dataset": "mnist",
                "arch": "lenet300",
                "method": "dense",
                "seed": 0,
                "status": "ok",
                "fc_sparsity_pct": 0.0,
                "test_acc_pct": 97.0,
            }
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
                "target_sparsity_pct": 90.0,
                "fc_sparsity_pct": 90.0,
                "test_acc_pct": 96.9,
                "status": "ok",
            }
        ]
    )
    plot = draw_frontier(runs, points, PROFILE, "mnist", "lenet300", "synthetic")
    labels = [t.get_text() for t in plot.figure.axes[0].get_legend().get_texts()]
    assert any(t.startswith("Han et al. 2015, published: 98.41 at 12x") for t in labels)
    assert "Stars: Han et al. 2015" in plot.caption


def test_every_table_states_epochs_and_the_output_layers_treatment(synth: Path) -> None:
    out = _report(synth)
    summary = pd.read_csv(out / "tables" / "summary.csv").set_index("method")
    assert summary.loc["dense", "epochs"] == 6 and summary.loc["switcher", "epochs"] == 6
    assert "epochs (total)" in (out / "tables" / "summary.md").read_text()
    frontier = (out / "tables" / "frontier.md").read_text()
    assert "epochs (total)" in frontier
    assert (
        "Per-layer allocation: uniform: every FC layer, the output layer (fc2) included, "
        "pruned to the target (gate, gate-weight, magnitude)"
    ) in frontier
