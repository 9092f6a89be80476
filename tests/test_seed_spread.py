"""studies/seed_spread.py at a tiny size: the spread table is built from the runs' own
metrics (seeds x thread counts), and thread-to-thread differences are reported per seed."""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "studies" / "seed_spread.py"


@pytest.fixture(scope="module")
def bench():
    """Imported by name, as --jobs' spawned workers import it (they inherit sys.path)."""
    sys.path.insert(0, str(BENCH.parent))
    try:
        yield importlib.import_module("seed_spread")
    finally:
        sys.path.remove(str(BENCH.parent))


def test_seed_spread_tiny(bench, prepared_root: Path, tmp_path: Path, capsys) -> None:
    import torch

    before = torch.get_num_threads()
    try:
        code = bench.main(
            [
                "--archs",
                "lenet300",
                "--seeds",
                "2",
                "--threads",
                "1",
                "2",
                "--jobs",
                "2",
                "--root",
                str(prepared_root),
                "--out",
                str(tmp_path),
                "--set",
                "recipe.epochs=2",
                "--set",
                "recipe.train_limit=64",
                "--set",
                "+recipe.eval_limit=100",
                "--set",
                "+archs.lenet300.hidden=[32,16]",
            ]
        )
    finally:
        torch.set_num_threads(before)
    assert code == 0
    rows = json.loads((tmp_path / "seed_spread.json").read_text())
    assert sorted((r["threads"], r["seed"]) for r in rows) == [(1, 0), (1, 1), (2, 0), (2, 1)]
    for r in rows:  # every row is the run's own metrics.json
        run = tmp_path / f"threads{r['threads']}" / f"fashion_mnist-lenet300-switcher-s{r['seed']}"
        metrics = json.loads((run / "metrics.json").read_text())
        assert r["test_acc_pct"] == pytest.approx(100 * metrics["test_accuracy"])
        assert r["fc_sparsity_pct"] == pytest.approx(100 * metrics["fc_sparsity"])
    text = (tmp_path / "seed_spread.md").read_text()
    acc = [r["test_acc_pct"] for r in rows if r["threads"] == 1]
    assert f"| lenet300 | 1 | 2 | 0 | {sum(acc) / 2:.2f} ± " in text
    assert text.count("| lenet300 | 0 |") == 1 and "bit-identical" in text
    assert "grid fashion x profile quick" in capsys.readouterr().out


def test_a_diverged_seed_is_counted_not_fatal(bench, prepared_root: Path, tmp_path: Path) -> None:
    argv = [
        "--archs",
        "lenet300",
        "--seeds",
        "1",
        "--threads",
        "1",
        "--jobs",
        "1",
        "--root",
        str(prepared_root),
        "--out",
        str(tmp_path),
        "--set",
        "recipe.epochs=2",
        "--set",
        "recipe.train_limit=64",
        "--set",
        "+recipe.eval_limit=100",
        "--set",
        "+archs.lenet300.hidden=[32,16]",
        "--set",
        "recipe.optimizer.lr=1e10",
    ]
    assert bench.main(argv) == 0
    run = tmp_path / "threads1" / "fashion_mnist-lenet300-switcher-s0"
    assert (run / "diverged.json").is_file() and not (run / "metrics.json").exists()
    stamp = (run / "diverged.json").stat().st_mtime_ns
    assert bench.main(argv) == 0  # resumed: the recorded divergence, not a retrained one
    assert (run / "diverged.json").stat().st_mtime_ns == stamp
    (row,) = json.loads((tmp_path / "seed_spread.json").read_text())
    assert "diverged" in row["diverged"] and row["test_acc_pct"] is None
    assert "| lenet300 | 1 | 1 | 1 (seed 0) | — | — |" in (tmp_path / "seed_spread.md").read_text()


def test_table_only_tabulates_finished_runs_and_trains_nothing(
    bench, prepared_root: Path, tmp_path: Path
) -> None:
    common = [
        "--archs",
        "lenet300",
        "--threads",
        "1",
        "--root",
        str(prepared_root),
        "--out",
        str(tmp_path),
        "--set",
        "recipe.epochs=1",
        "--set",
        "recipe.train_limit=64",
        "--set",
        "+recipe.eval_limit=100",
        "--set",
        "+archs.lenet300.hidden=[32,16]",
    ]
    assert bench.main([*common, "--seeds", "1"]) == 0  # seed 0 trains
    assert bench.main([*common, "--seeds", "3", "--table-only"]) == 0
    assert not (tmp_path / "threads1" / "fashion_mnist-lenet300-switcher-s1").exists()
    (row,) = json.loads((tmp_path / "seed_spread.json").read_text())
    assert (row["seed"], row["diverged"]) == (0, None)
    text = (tmp_path / "seed_spread.md").read_text()
    assert "| lenet300 | 1 | 1 | 0 |" in text and "summed over the runs" in text
    acc = row["test_acc_pct"]  # one seed has no std: '—', as in the report, never 'nan'
    assert f"| {acc:.2f} ± — ({acc:.2f}-{acc:.2f}) |" in text and "nan" not in text


def test_prior_rows_complete_a_table_and_another_configuration_is_refused(
    bench, prepared_root: Path, tmp_path: Path, capsys
) -> None:
    common = [
        "--archs",
        "lenet300",
        "--threads",
        "1",
        "--root",
        str(prepared_root),
        "--set",
        "recipe.epochs=1",
        "--set",
        "recipe.train_limit=64",
        "--set",
        "+recipe.eval_limit=100",
        "--set",
        "+archs.lenet300.hidden=[32,16]",
    ]
    first, second = tmp_path / "first", tmp_path / "second"
    assert bench.main([*common, "--seeds", "2", "--only", "0", "--out", str(first)]) == 0
    assert not (first / "threads1" / "fashion_mnist-lenet300-switcher-s1").exists()
    (seed0,) = json.loads((first / "seed_spread.json").read_text())
    assert seed0["seed"] == 0 and len(seed0["identity"]) == 64

    prior = ["--prior", str(first / "seed_spread.json")]
    assert bench.main([*common, "--seeds", "2", "--out", str(second), *prior]) == 0
    assert not (second / "threads1" / "fashion_mnist-lenet300-switcher-s0").exists()  # kept
    assert (second / "threads1" / "fashion_mnist-lenet300-switcher-s1" / "metrics.json").is_file()
    rows = json.loads((second / "seed_spread.json").read_text())
    assert [(r["seed"], bool(r.get("prior"))) for r in rows] == [(0, True), (1, False)]
    assert rows[0]["test_acc_pct"] == seed0["test_acc_pct"]
    assert "1 of 2 rows from --prior" in (second / "seed_spread.md").read_text()

    other = [
        *common,
        "--set",
        "recipe.train_limit=32",
        "--seeds",
        "2",
        "--table-only",
        "--out",
        str(tmp_path / "third"),
        *prior,
    ]
    with pytest.raises(SystemExit) as exc:
        bench.main(other)
    assert exc.value.code == 2
    assert "measured another configuration" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        bench.main([*common, "--seeds", "2", "--only", "5", "--out", str(tmp_path / "x")])
    assert "--only [5]: not among the seeds 0-1" in capsys.readouterr().err
