"""report.stats (confidence intervals, the wording rule) and the paired-difference table of
report.paired, against scipy and hand calculation."""

from __future__ import annotations

import math

import pandas as pd
import pytest
from scipy import stats as sp

from weightswitch.report import stats as S
from weightswitch.report.paired import (
    PAIRED_COLUMNS,
    PAIRED_NOTE,
    WORKING,
    WORKING_NOTE,
    paired_display,
    paired_note,
    paired_table,
)
from weightswitch.report.seeds import collapsed


def test_t_interval_is_students_t_by_hand_and_by_scipy() -> None:
    ci = S.t_interval([1, 2, 3, 4, 5])
    # mean 3, s = sqrt(2.5), t(0.975, 4) = 2.7764451: half width 1.9632432
    assert (ci.estimate, ci.n, ci.level) == (3.0, 5, 0.95)
    assert ci.low == pytest.approx(3 - 1.9632432, abs=1e-6)
    assert ci.high == pytest.approx(3 + 1.9632432, abs=1e-6)
    low, high = sp.t.interval(0.95, 4, loc=3, scale=sp.sem([1, 2, 3, 4, 5]))
    assert (ci.low, ci.high) == pytest.approx((low, high), rel=1e-12)
    wide = S.t_interval([1, 2, 3, 4, 5], level=0.99)
    assert wide.low < ci.low and wide.high > ci.high
    one, none = S.t_interval([2.5]), S.t_interval([])
    assert one.estimate == 2.5 and one.n == 1 and not one.defined and not one.excludes_zero
    assert none.n == 0 and math.isnan(none.estimate) and not none.defined


def test_paired_interval_pairs_by_seed_like_scipys_paired_t_test() -> None:
    a = {0: 97.0, 1: 96.5, 2: 96.8, 3: 95.0, 4: math.nan}  # seed 3: no partner; 4: no result
    b = {0: 96.4, 1: 96.0, 2: 96.9, 4: 96.1, 5: 96.3}
    assert S.paired_differences(a, b) == pytest.approx({0: 0.6, 1: 0.5, 2: -0.1})
    ci = S.paired_interval(a, b)
    want = sp.ttest_rel([97.0, 96.5, 96.8], [96.4, 96.0, 96.9]).confidence_interval(0.95)
    assert ci.n == 3 and ci.estimate == pytest.approx(1 / 3)
    assert (ci.low, ci.high) == pytest.approx((want.low, want.high), rel=1e-9)
    # by hand: s = 0.3785939, t(0.975, 2) = 4.3026527 -> half width 4.3026527 s / √3 = 0.9404794
    assert ci.high - ci.estimate == pytest.approx(0.9404794, abs=1e-6)
    assert not ci.excludes_zero


@pytest.mark.parametrize(
    ("k", "n", "low", "high"),
    [  # Newcombe (1998), Table I, and the closed form for 0/5 and 5/5
        (0, 10, 0.0, 0.2775),
        (1, 10, 0.0179, 0.4042),
        (0, 5, 0.0, 0.4345),
        (5, 5, 0.5655, 1.0),
        (15, 148, 0.0624, 0.1605),
    ],
)
def test_wilson_interval_matches_published_values(k: int, n: int, low: float, high: float) -> None:
    ci = S.wilson_interval(k, n)
    assert ci.estimate == k / n and ci.n == n
    assert (ci.low, ci.high) == pytest.approx((low, high), abs=5e-5)


def test_wilson_interval_by_its_formula_and_edges() -> None:
    z = sp.norm.ppf(0.975)
    k, n = 3, 7
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    ci = S.wilson_interval(k, n)
    assert (ci.low, ci.high) == pytest.approx((centre - half, centre + half), rel=1e-12)
    assert not S.wilson_interval(0, 0).defined
    with pytest.raises(ValueError, match="0 <= k <= n"):
        S.wilson_interval(4, 3)


def test_the_wording_rule_claims_only_what_excludes_zero() -> None:
    up = S.t_interval([1.0, 1.2, 0.9, 1.1, 1.0])
    assert up.excludes_zero
    assert S.claim(up) == f"higher: +1.04 pp (95% CI {up.low:.2f} to {up.high:.2f})"
    down = S.t_interval([-0.5, -0.4, -0.6])
    assert S.claim(down).startswith("lower: -0.50 pp (95% CI -0.75 to -0.25)")
    unsure = S.t_interval([0.6, 0.5, -0.1])
    assert S.claim(unsure) == "no detectable difference (95% CI -0.61 to 1.27)"
    assert S.claim(S.t_interval([0.4])) == "+0.40 pp from one pair: no confidence interval (n = 1)"
    assert S.claim(S.t_interval([])) == "no paired runs"
    assert S.ci_text(unsure, 1, "pp") == "95% CI -0.6 to 1.3 pp"
    same = S.t_interval([95.0 - 95.55, 95.13 - 95.68])  # equal but for float rounding
    assert same.degenerate and not same.excludes_zero and not up.degenerate
    assert S.claim(same) == (
        "-0.55 pp in each of 2 pairs: no spread to estimate an interval from, no claim"
    )


# --------------------------------------------------------------------------- the table


def _runs() -> pd.DataFrame:
    """Dense, switcher and matched magnitude runs of three seeds: switcher seed 2 diverged,
    magnitude seed 1 collapsed (10 %: chance on MNIST)."""
    acc = {
        "dense": [0.970, 0.965, 0.968],
        "switcher": [0.972, 0.969, None],
        "magnitude": [0.960, 0.100, 0.962],
    }
    rows = []
    for method, values in acc.items():
        for seed, value in enumerate(values):
            switcher = f"results/runs/cpu/mnist-lenet300-switcher-s{seed}"
            matched = switcher if method == "magnitude" else None
            rows.append(
                {
                    "profile": "cpu",
                    "dataset": "mnist",
                    "arch": "lenet300",
                    "method": method,
                    "seed": seed,
                    "status": "diverged" if value is None else "ok",
                    "test_accuracy": math.nan if value is None else value,
                    "epochs": math.nan if value is None else 12 if matched else 6,
                    "matched_run": matched,
                }
            )
    return pd.DataFrame(rows)


def _points() -> pd.DataFrame:
    """Frontier runs at 90 %: magnitude seeds 0-2, gate seeds 0-1 (seed 2 diverged)."""
    acc = {"magnitude": [96.8, 96.5, 96.7], "gate": [96.1, 95.9, None]}
    rows = [
        {
            "profile": "cpu",
            "dataset": "mnist",
            "arch": "lenet300",
            "method": method,
            "seed": seed,
            "target_sparsity_pct": 90.0,
            "fc_sparsity_pct": 90.0,
            "test_acc_pct": math.nan if value is None else value,
            "epochs": None if value is None else 12,
            "status": "diverged" if value is None else "ok",
        }
        for method, values in acc.items()
        for seed, value in enumerate(values)
    ]
    return pd.DataFrame(rows)


def _row(table: pd.DataFrame, kind: str, method: str, baseline: str) -> pd.Series:
    sel = table[
        (table["kind"] == kind) & (table["method"] == method) & (table["baseline"] == baseline)
    ]
    assert len(sel) == 1, (kind, method, baseline)
    return sel.iloc[0]


def test_paired_table_pairs_by_seed_and_counts_every_failed_run() -> None:
    table = paired_table(_runs(), _points(), collapsed=collapsed)
    assert tuple(table.columns) == PAIRED_COLUMNS
    assert list(table["kind"]) == [
        "vs dense",
        "vs dense",
        "matched sparsity",
        "frontier vs dense",
        "frontier vs dense",
        "frontier vs magnitude",
        WORKING,
    ]
    sw = _row(table, "vs dense", "switcher", "dense")
    ci = S.t_interval([0.2, 0.4])  # seed 2 diverged: no pair
    assert sw["n_pairs"] == 2 and sw["seeds"] == "0,1" and sw["n_unpaired"] == 1
    assert sw["diff_pp_mean"] == pytest.approx(ci.estimate)
    assert (sw["diff_pp_ci_low"], sw["diff_pp_ci_high"]) == pytest.approx((ci.low, ci.high))
    assert sw["claim"] == S.claim(S.paired_interval({0: 97.2, 1: 96.9}, {0: 97.0, 1: 96.5}))
    assert (sw["n_runs"], sw["n_diverged"], sw["n_collapsed"], sw["n_missing"]) == (3, 1, 0, 0)
    rate = S.wilson_interval(1, 3)
    assert (sw["failure_rate"], sw["failure_ci_low"], sw["failure_ci_high"]) == pytest.approx(
        (rate.estimate, rate.low, rate.high)
    )
    mag = _row(table, "vs dense", "magnitude", "dense")  # the collapsed run stays in the mean
    assert mag["n_pairs"] == 3 and mag["n_collapsed"] == 1
    assert mag["diff_pp_mean"] == pytest.approx((-1.0 - 86.5 - 0.6) / 3)
    matched = _row(table, "matched sparsity", "switcher", "magnitude")
    assert matched["n_pairs"] == 2 and matched["diff_pp_mean"] == pytest.approx((1.2 + 86.9) / 2)
    gate = _row(table, "frontier vs magnitude", "gate", "magnitude")
    assert gate["target_sparsity_pct"] == 90.0 and gate["n_pairs"] == 2
    assert gate["diff_pp_mean"] == pytest.approx((-0.7 - 0.6) / 2)
    assert gate["n_diverged"] == 1 and gate["n_unpaired"] == 1
    front = _row(table, "frontier vs dense", "magnitude", "dense")
    assert front["diff_pp_mean"] == pytest.approx((-0.2 + 0.0 - 0.1) / 3)
    shown = paired_display(table)
    assert list(shown.iloc[0][["comparison", "failures"]]) == [
        "switcher (6 ep) − dense (6 ep)",
        "0 / 1 / 0 of 3",
    ]
    assert (sw["epochs"], sw["baseline_epochs"]) == (6, 6)  # a diverged run records none
    assert shown.iloc[2]["comparison"] == "switcher (6 ep) − magnitude (12 ep) (matched to it)"
    assert shown.iloc[0]["pairs"] == "2 (0,1), 1 unpaired"
    assert shown.iloc[0]["rate"].startswith("1/3 = 33% [")
    assert shown.iloc[5]["comparison"] == "gate at 90% (12 ep) − magnitude at 90% (12 ep)"
    # switcher seed 2 diverged: the gate ranking is also compared over seeds 0-1 alone
    assert shown.iloc[6]["comparison"].endswith("(working parents only)")
    assert paired_note(table) == f"{PAIRED_NOTE} {WORKING_NOTE}"


def test_working_parents_drop_the_seeds_whose_gated_parent_failed() -> None:
    """A collapsed switcher (seed 1) prunes to a collapsed gate run: the all-seeds comparison
    keeps it (the answer), the working-parents row leaves it and the diverged seed 2 out."""
    runs, points = _runs(), _points()
    runs.loc[(runs["method"] == "switcher") & (runs["seed"] == 1), "test_accuracy"] = 0.100
    points.loc[(points["method"] == "gate") & (points["seed"] == 1), "test_acc_pct"] = 10.0
    table = paired_table(runs, points, collapsed=collapsed)
    every = _row(table, "frontier vs magnitude", "gate", "magnitude")
    assert every["seeds"] == "0,1" and every["diff_pp_mean"] == pytest.approx((-0.7 - 86.5) / 2)
    working = _row(table, WORKING, "gate", "magnitude")
    assert working["seeds"] == "0" and working["n_pairs"] == 1
    assert working["diff_pp_mean"] == pytest.approx(-0.7)
    assert (working["n_runs"], working["n_collapsed"]) == (1, 0)
    healthy = paired_table(
        _runs().assign(status="ok", test_accuracy=0.97), _points(), collapsed=collapsed
    )
    assert WORKING not in set(healthy["kind"])  # every parent works: nothing to add
    assert paired_note(healthy) == PAIRED_NOTE


def test_paired_table_without_frontier_or_runs() -> None:
    table = paired_table(_runs(), None, collapsed=collapsed)
    assert set(table["kind"]) == {"vs dense", "matched sparsity"}
    empty = paired_table(_runs().iloc[0:0], None, collapsed=collapsed)
    assert empty.empty and tuple(empty.columns) == PAIRED_COLUMNS


def test_correlation_interval_stays_inside_minus_one_to_one() -> None:
    rs = [-0.05, 0.6]  # two seeds far apart: a plain t interval leaves [-1, 1]
    plain = S.t_interval(rs)
    assert plain.low < -1 and plain.high > 1
    ci = S.correlation_interval(rs)
    assert -1 < ci.low < ci.estimate < ci.high < 1
    z = S.t_interval([math.atanh(r) for r in rs])
    assert (ci.estimate, ci.low, ci.high) == pytest.approx(
        (math.tanh(z.estimate), math.tanh(z.low), math.tanh(z.high))
    )
    assert S.correlation_interval([1.0, 1.0]).high <= 1


def test_a_pruned_run_is_compared_with_its_equal_budget_control() -> None:
    """Where the profile has the control (the parent fine-tuned alike, nothing pruned), every
    pruned run, matched or on the frontier, is paired with it; the comparison with the parent
    itself stays as a row labelled secondary (unequal budget)."""
    from weightswitch.report.paired import CONTROL, paired_display

    control = pd.DataFrame(
        [
            {
                **_points().iloc[0].to_dict(),
                "method": "control",
                "seed": seed,
                "target_sparsity_pct": 0.0,
                "fc_sparsity_pct": 0.0,
                "test_acc_pct": value,
            }
            for seed, value in enumerate([97.0, 96.9, 97.1])
        ]
    )
    points = pd.concat([_points(), control], ignore_index=True)
    table = paired_table(_runs(), points, collapsed=collapsed)
    frontier = table[(table["kind"] == CONTROL) & (table["target_sparsity_pct"] == 90.0)]
    assert list(frontier["method"]) == ["magnitude"]  # gate's parent (switcher) has no control
    row = frontier.iloc[0]
    ci = S.paired_interval({0: 96.8, 1: 96.5, 2: 96.7}, {0: 97.0, 1: 96.9, 2: 97.1})
    assert row["baseline"] == "control" and row["diff_pp_mean"] == pytest.approx(ci.estimate)
    mine = table[(table["kind"] == CONTROL) & table["target_sparsity_pct"].isna()]
    assert list(mine["method"]) == ["magnitude"] and mine.iloc[0]["n_pairs"] == 3  # matched
    shown = paired_display(table)
    key = [f"{r.kind}{r.method}{r.target_sparsity_pct}" for r in table.itertuples()]
    text = dict(zip(key, shown["comparison"], strict=True))
    assert "magnitude at 90% (12 ep) − control at 0%" in text[CONTROL + "magnitude90.0"]
    assert text["vs densemagnitudenan"].endswith("(secondary: unequal budget)")
    assert "secondary" not in text["vs denseswitchernan"]  # a switcher is no pruned child
    # without a control the parent comparison is still labelled: its budget is unequal
    plain = paired_display(paired_table(_runs(), _points(), collapsed=collapsed))
    assert plain["comparison"].str.contains("secondary: unequal budget").any()


def test_an_exploratory_comparison_flags_arms_of_other_machine_numerics() -> None:
    """Item 5 of issue 37 in every table that compares arms: the paired table holds each
    comparison's threads and CPU, and its text flags a comparison whose recorded ones differ
    (records without them, like these tables' older runs, are counted, never flagged)."""
    from weightswitch.report.paired import paired_display

    runs = _runs().assign(threads=1.0, cpu_capability="AVX2")
    runs.loc[(runs["method"] == "switcher") & (runs["seed"] == 1), "threads"] = 2.0
    table = paired_table(runs, None, collapsed=collapsed)
    vs_dense = table[table["kind"] == "vs dense"].set_index("method")["numerics"]
    assert vs_dense["switcher"] == "DIFFER: 1, AVX2; 2, AVX2"
    assert vs_dense["magnitude"] == "1, AVX2"
    shown = paired_display(table)["comparison"]
    assert shown.str.contains(r"\[threads, CPU DIFFER: 1, AVX2; 2, AVX2\]").sum() >= 1
    assert not shown[table["method"] == "magnitude"].str.contains("DIFFER").any()
    unrecorded = paired_table(_runs(), None, collapsed=collapsed)
    assert unrecorded["numerics"].str.startswith("unrecorded").all()
