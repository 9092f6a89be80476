"""Issue 37: the pre-registered primary table follows conf/analysis.yaml and nothing else:
exact sign-flip p-values, Holm over the family, failed seeds entering as pre-registered,
provisional until every seed is in, and the arms' numerics flagged when they differ."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest

from weightswitch.report.analysis import ANALYSIS_FILE, load_analysis
from weightswitch.report.collect import UNRECORDED, Collection, numerics_summary, run_numerics
from weightswitch.report.primary import display, primary_table
from weightswitch.report.stats import holm, sign_flip_p

PROJECT = Path(__file__).resolve().parents[1]
STUDY = {"profile": "long", "dataset": "mnist", "arch": "lenet300"}


def test_sign_flip_p_is_exact() -> None:
    assert sign_flip_p([1.0] * 8) == pytest.approx(2 / 256)
    assert sign_flip_p([1.0] * 5) == pytest.approx(0.0625)  # n = 5 cannot go lower
    assert sign_flip_p([1.0, -1.0]) == 1.0
    # (3, 1, -1): |sum| = 3; of the 8 patterns, all but the two with 3 against both 1s reach it
    assert sign_flip_p([3.0, 1.0, -1.0]) == pytest.approx(6 / 8)
    assert math.isnan(sign_flip_p([]))


def test_holm_steps_down_and_stays_monotone() -> None:
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert holm([0.5, 0.001]) == pytest.approx([0.5, 0.002])
    adjusted = holm([0.02, math.nan])
    assert adjusted[0] == pytest.approx(0.02) and math.isnan(adjusted[1])


def _runs(rows: list[dict]) -> pd.DataFrame:
    base = {
        **STUDY,
        "status": "ok",
        "val_accuracy": 0.97,
        "fc_sparsity": 0.05,
        "threads": 1.0,
        "cpu_capability": "AVX2",
        "w_epochs": 24.0,
    }
    return pd.DataFrame([{**base, **r} for r in rows])


def _points(rows: list[dict]) -> pd.DataFrame:
    base = {**STUDY, "status": "ok", "threads": 1.0, "cpu_capability": "AVX2", "w_epochs": 36.0}
    return pd.DataFrame([{**base, **r} for r in rows])


def _collection(runs: pd.DataFrame) -> Collection:
    return Collection(Path("."), runs, pd.DataFrame(), pd.DataFrame(), None, [])


def test_the_primary_family_from_the_committed_analysis() -> None:
    analysis = load_analysis(PROJECT / ANALYSIS_FILE)
    seeds = analysis.study["seeds"]
    runs = []
    for s in seeds:
        runs.append({"method": "dense", "seed": s, "test_accuracy": 0.980})
        # switcher: seed 1 diverged (enters a at chance: 10%), seed 2 collapsed on validation
        if s == 1:
            runs.append(
                {
                    "method": "switcher",
                    "seed": s,
                    "status": "diverged",
                    "test_accuracy": math.nan,
                    "val_accuracy": math.nan,
                }
            )
        else:
            runs.append(
                {
                    "method": "switcher",
                    "seed": s,
                    "test_accuracy": 0.981,
                    "val_accuracy": 0.15 if s == 2 else 0.97,
                    "w_epochs": 12.0,
                }
            )
    points = []
    for s in seeds:
        points += [
            {"method": "magnitude", "seed": s, "target_sparsity_pct": 90.0, "test_acc_pct": 97.5},
            {"method": "control", "seed": s, "target_sparsity_pct": 0.0, "test_acc_pct": 98.2},
            {
                "method": "gate-free",
                "seed": s,
                "target_sparsity_pct": 90.0,
                "test_acc_pct": 97.0 + 0.01 * s,
            },
        ]
        if s != 1:  # the diverged switcher's children diverged too
            points += [
                {
                    "method": "gate",
                    "seed": s,
                    "target_sparsity_pct": 90.0,
                    "test_acc_pct": 97.0 + 0.1 * s,
                },
                {
                    "method": "weight-alone",
                    "seed": s,
                    "target_sparsity_pct": 90.0,
                    "test_acc_pct": 97.0 + 0.1 * s,
                },
                {
                    "method": "gate-weight",
                    "seed": s,
                    "target_sparsity_pct": 90.0,
                    "test_acc_pct": 97.5,
                },
            ]
        else:
            points += [
                {
                    "method": m,
                    "seed": s,
                    "target_sparsity_pct": 90.0,
                    "status": "diverged",
                    "test_acc_pct": math.nan,
                }
                for m in ("gate", "weight-alone", "gate-weight")
            ]
    table = primary_table(_collection(_runs(runs)), _points(points), analysis).set_index("id")
    # a: intention to treat, the diverged seed at chance (10%); collapsed seed 2 at its accuracy
    assert table.loc["a", "n"] == 8
    assert table.loc["a", "mean_pp"] == pytest.approx((7 * 0.1 + (10 - 98)) / 8)
    # b: the diverged switcher's seed is dropped; both rankings equal -> no difference
    assert table.loc["b", "n"] == 7 and table.loc["b", "mean_pp"] == pytest.approx(0.0)
    assert table.loc["b", "decision"] == "no detectable difference"
    # e: magnitude 0.7 pp below its control in all 8 seeds: p = 2/256, Holm keeps it
    assert table.loc["e", "p_raw"] == pytest.approx(2 / 256)
    assert table.loc["e", "p_holm"] < 0.05 and table.loc["e", "decision"].startswith("lower")
    assert table.loc["e", "arm_w_epochs"] == "36"
    # f: the diverged and the collapsed seed fail (collapse read on validation accuracy)
    assert table.loc["f", "seeds"] == "1,2" and table.loc["f", "decision"] == (
        "not stable at this budget"
    )
    shown = display(table.reset_index())
    assert list(shown["id"]) == [e["id"] for e in analysis.primary]


def test_a_partial_study_is_provisional_and_mixed_numerics_are_flagged() -> None:
    analysis = load_analysis(PROJECT / ANALYSIS_FILE)
    runs = _runs(
        [
            {"method": "dense", "seed": 0, "test_accuracy": 0.98},
            {"method": "dense", "seed": 1, "test_accuracy": 0.98, "threads": 2.0},
            {"method": "switcher", "seed": 0, "test_accuracy": 0.97},
            {"method": "switcher", "seed": 1, "test_accuracy": 0.97},
        ]
    )
    table = primary_table(_collection(runs), None, analysis).set_index("id")
    assert "provisional: 2 of 8 seeds done" in table.loc["a", "decision"]
    assert table.loc["a", "numerics"].startswith("DIFFER")
    assert not table.loc["e", "numerics"].startswith("DIFFER")
    assert table.loc["c", "decision"] == "no pairs yet"
    # Holm counts the comparisons that have no pairs yet (as p = 1): never fewer than planned
    assert table.loc["a", "p_holm"] == pytest.approx(min(1.0, 5 * table.loc["a", "p_raw"]))


def test_an_unrecorded_run_is_counted_not_called_a_difference() -> None:
    """A divergence recorded before diverged.json held the numerics (the long study's
    switcher seed 4) says nothing about them: no DIFFER flag, but the gap is shown."""
    assert numerics_summary(["1, AVX2", UNRECORDED, "1, AVX2"]) == "1, AVX2; unrecorded (1 run)"
    assert numerics_summary(["1, AVX2", "2, AVX2", UNRECORDED, UNRECORDED]) == (
        "DIFFER: 1, AVX2; 2, AVX2; unrecorded (2 runs)"
    )
    assert run_numerics(math.nan, None) == UNRECORDED and run_numerics(1.0, "AVX2") == "1, AVX2"
    analysis = load_analysis(PROJECT / ANALYSIS_FILE)
    runs = _runs(
        [
            {"method": "dense", "seed": 0, "test_accuracy": 0.98},
            {"method": "dense", "seed": 1, "test_accuracy": 0.98},
            {"method": "switcher", "seed": 0, "test_accuracy": 0.97},
            {
                "method": "switcher",
                "seed": 1,
                "status": "diverged",
                "test_accuracy": math.nan,
                "threads": math.nan,
                "cpu_capability": None,
            },
        ]
    )
    a = primary_table(_collection(runs), None, analysis).set_index("id").loc["a"]
    assert a["n"] == 2 and a["numerics"] == "1, AVX2; unrecorded (1 run)"
