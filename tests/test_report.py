"""weightswitch report on synthetic run directories that follow the "Run outputs" contract."""

from __future__ import annotations

import json
import math
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from weightswitch.cli import main
from weightswitch.gate_images import pool_blocks
from weightswitch.report.build import HEADLINE_KEYS, ReportOptions, _profiles, build_report, gather
from weightswitch.report.collect import collect, load_expected
from weightswitch.report.sections import summary_section
from weightswitch.report.tables import summary_table

PROFILE = "quick"
PAIRS = {
    ("mnist", "lenet300"): {"fc1": (300, 784), "fc2": (100, 300), "fc3": (10, 100)},
    ("cifar10", "resnet18"): {"fc": (10, 512)},
}
METHODS = ("dense", "switcher", "switcher-neuron", "magnitude", "random")
SEEDS = (0, 1)
NEVER_RAN = ("cifar10", "resnet18", "random", 1)
CORRUPT = ("mnist", "lenet300", "magnitude", 1)


def run_name(dataset: str, arch: str, method: str, seed: int) -> str:
    return f"{dataset}-{arch}-{method}-s{seed}"


def _history(method: str, epochs: int, rng: np.random.Generator) -> pd.DataFrame:
    if method in ("switcher", "switcher-neuron"):
        phases = ["warmup"] + ["tnn" if e % 2 else "snn" for e in range(1, epochs)]
    elif method in ("magnitude", "random"):
        phases = ["dense"] * (epochs // 2) + ["finetune"] * (epochs - epochs // 2)
    else:
        phases = ["dense"] * epochs
    e = np.arange(epochs)
    return pd.DataFrame(
        {
            "epoch": e,
            "phase": phases,
            "lr": 0.1,
            "train_loss": 2.0 / (e + 1) + rng.uniform(0, 0.05, epochs),
            "train_accuracy": 0.5 + 0.4 * e / epochs,
            "val_accuracy": 0.5 + 0.45 * e / epochs + rng.uniform(0, 0.01, epochs),
            "fc_sparsity": 0.0 if method == "dense" else 0.4,
            "seconds": 1.5,
        }
    )


def write_run(
    root: Path,
    dataset: str,
    arch: str,
    method: str,
    seed: int,
    *,
    profile: str = PROFILE,
    gate_shapes: dict | None = None,
) -> dict:
    """One run directory; returns the metrics it wrote."""
    rng = np.random.default_rng(zlib.crc32(run_name(dataset, arch, method, seed).encode()))
    layers = gate_shapes or PAIRS[(dataset, arch)]
    run_dir = root / profile / run_name(dataset, arch, method, seed)
    run_dir.mkdir(parents=True)
    gen = torch.Generator().manual_seed(seed)
    layer_sparsity = {}
    if method == "switcher":
        gates = {n: torch.relu(torch.randn(s, generator=gen)).half() for n, s in layers.items()}
    elif method == "switcher-neuron":
        gates = {n: torch.relu(torch.randn(s[1], generator=gen)).half() for n, s in layers.items()}
    else:
        gates = None
    for name in layers:
        if gates is not None:
            layer_sparsity[name] = float((gates[name] == 0).float().mean())
        elif method == "dense":
            layer_sparsity[name] = 0.0
        else:
            layer_sparsity[name] = 0.45 + 0.01 * seed
    if gates is not None:
        torch.save(gates, run_dir / "gates.pt")
    sizes = {n: s[0] * s[1] for n, s in layers.items()}
    fc = sum(sizes[n] * layer_sparsity[n] for n in layers) / sum(sizes.values())
    metrics = {
        "arch": arch,
        "dataset": dataset,
        "method": method,
        "seed": seed,
        "profile": profile,
        "epochs": 6,
        "test_accuracy": float(0.9 + rng.uniform(0, 0.08)),
        "val_accuracy": float(0.9 + rng.uniform(0, 0.08)),
        "fc_sparsity": fc,
        "layer_sparsity": layer_sparsity,
        "compression_ratio": 1.0 / (1.0 - 0.9 * fc),
        "snn_params": 960000 if gates is not None else 0,
        "fc_macs_removed": int(fc * sum(sizes.values())),
        "epoch_seconds": 1.5,
        "wall_seconds": 9.0,
        "device": "cpu",
        "git_commit": "abc123",
        "train_size": 1000,
        "matched_run": run_name(dataset, arch, "switcher", seed)
        if method in ("magnitude", "random")
        else None,
        "target_sparsity": 0.45 + 0.01 * seed if method in ("magnitude", "random") else None,
    }
    (run_dir / "metrics.json").write_text(json.dumps(metrics))
    _history(method, 6, rng).to_csv(run_dir / "history.csv", index=False)
    (run_dir / "config.json").write_text(json.dumps({"method": method}))
    return metrics


@pytest.fixture(scope="module")
def synth(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The full grid minus one run that never ran and one with a corrupt metrics.json."""
    base = tmp_path_factory.mktemp("report")
    root = base / "results" / "runs"
    written = {}
    expected = []
    for dataset, arch in PAIRS:
        for method in METHODS:
            for seed in SEEDS:
                key = (dataset, arch, method, seed)
                expected.append(dict(zip(("dataset", "arch", "method", "seed"), key, strict=True)))
                if key == NEVER_RAN:
                    continue
                metrics = write_run(root, *key)
                if key == CORRUPT:
                    (root / PROFILE / run_name(*key) / "metrics.json").write_text("{not json")
                else:
                    written[key] = metrics
    exp_file = base / "expected.json"
    exp_file.write_text(json.dumps(expected))
    out = base / "reports"
    quiet = ReportOptions(expected=exp_file, log=lambda _: None, warn=lambda _: None)
    readme = build_report(root, out, quiet)
    return {"root": root, "out": out, "readme": readme, "written": written, "expected": exp_file}


def test_collect_marks_missing_and_corrupt(synth: dict) -> None:
    col = collect(synth["root"])
    assert len(col.ok) == 18 and len(col.missing) == 1
    assert any("magnitude-s1" in w and "missing" in w for w in col.warnings)
    exp = load_expected(synth["expected"], [PROFILE])
    col = collect(synth["root"], expected=exp)
    missing = {tuple(r) for r in col.missing[["dataset", "arch", "method", "seed"]].values}
    assert missing == {NEVER_RAN, CORRUPT}
    assert col.missing["test_accuracy"].isna().all()
    assert len(col.history) == 18 * 6


def test_bad_run_dirs_are_missing_never_invented(tmp_path: Path) -> None:
    root = tmp_path / "runs"
    write_run(root, "mnist", "lenet300", "dense", 0)
    for seed, text in ((1, json.dumps({"arch": "lenet300"})), (2, None), (3, "PCT")):
        run_dir = root / PROFILE / run_name("mnist", "lenet300", "dense", seed)
        if text == "PCT":
            write_run(root, "mnist", "lenet300", "dense", seed)
            data = json.loads((run_dir / "metrics.json").read_text())
            text = json.dumps({**data, "test_accuracy": 98.1})  # percent, not a fraction
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "history.csv").write_text("epoch,phase\n0,dense\n")
        if text is not None:
            (run_dir / "metrics.json").write_text(text)
    (root / PROFILE / "notes").mkdir()
    (root / PROFILE / "notes" / "metrics.json").write_text("[]")  # identity unknown
    col = collect(root)
    reasons = dict(zip(col.runs["seed"], col.runs["reason"], strict=True))
    assert list(col.runs["status"]) == ["ok", "missing", "missing", "missing"]
    assert "lacks" in reasons[1] and "no metrics.json" in reasons[2]
    assert "outside [0, 1]" in reasons[3]
    assert col.runs.loc[col.runs.status == "missing", "test_accuracy"].isna().all()
    assert any("identity unknown" in w for w in col.warnings)


def test_summary_values_are_the_means(synth: dict) -> None:
    summary = pd.read_csv(synth["out"] / "tables" / "summary.csv")
    assert len(summary) == len(PAIRS) * len(METHODS)
    assert {"test_acc_pct_mean", "test_acc_pct_std", "n", "fc_sparsity_pct_mean"} <= set(summary)
    for dataset, arch in PAIRS:
        for method in METHODS:
            vals = [m for k, m in synth["written"].items() if k[:3] == (dataset, arch, method)]
            row = summary[
                (summary.dataset == dataset) & (summary.arch == arch) & (summary.method == method)
            ].iloc[0]
            acc = [100 * m["test_accuracy"] for m in vals]
            sp = [100 * m["fc_sparsity"] for m in vals]
            assert row["n"] == len(vals)
            assert row["n_expected"] == 2
            assert row["test_acc_pct_mean"] == pytest.approx(sum(acc) / len(acc), abs=1e-4)
            assert row["fc_sparsity_pct_mean"] == pytest.approx(sum(sp) / len(sp), abs=1e-4)
            if len(vals) == 2:
                assert row["test_acc_pct_std"] == pytest.approx(np.std(acc, ddof=1), abs=1e-4)
            else:
                assert math.isnan(row["test_acc_pct_std"]) and row["status"] == "partial"
    dense = summary[(summary.dataset == "mnist") & (summary.method == "dense")].iloc[0]
    sw = summary[(summary.dataset == "mnist") & (summary.method == "switcher")].iloc[0]
    assert sw["delta_vs_dense_pp"] == pytest.approx(
        sw["test_acc_pct_mean"] - dense["test_acc_pct_mean"], abs=1e-4
    )
    mag = summary[(summary.dataset == "mnist") & (summary.method == "magnitude")].iloc[0]
    assert mag["matched_to"] == "switcher"


def test_markdown_and_latex_show_missing(synth: dict) -> None:
    md = (synth["out"] / "tables" / "summary.md").read_text()
    assert md.startswith("# Summary\n") and "### Profile `quick` (reduced budget" in md
    row = next(line for line in md.splitlines() if "| cifar10 | resnet18 | random |" in line)
    cells = [c.strip() for c in row.strip(" |").split("|")]
    assert cells[-2:] == ["1/2", "—"] and "± —" in row  # single seed: no std; no floor
    tex = (synth["out"] / "tables" / "summary.tex").read_text()
    assert r"\toprule" in tex and r"\bottomrule" in tex and r"$\pm$" in tex
    missing = pd.read_csv(synth["out"] / "tables" / "missing.csv")
    assert len(missing) == 2 and set(missing["method"]) == {"random", "magnitude"}


def test_reference_floor_is_a_separate_labelled_column(synth: dict) -> None:
    """Issue 10: the reference code's floors sit in their own column, with provenance, only
    on the paper's MNIST switcher rows; our measured columns never hold them."""
    md = (synth["out"] / "tables" / "summary.md").read_text()
    header = next(line for line in md.splitlines() if line.startswith("| dataset |"))
    assert header.rstrip(" |").endswith("reference code floor (%) †")
    rows = {
        m: next(line for line in md.splitlines() if f"| mnist | lenet300 | {m} |" in line)
        for m in ("dense", "switcher", "switcher-neuron")
    }
    last = {m: row.strip(" |").split("|")[-1].strip() for m, row in rows.items()}
    assert last == {"dense": "—", "switcher": "98.50", "switcher-neuron": "98.42"}
    assert "98.50" not in rows["switcher"].strip(" |").rsplit("|", 1)[0]  # not in our cells
    assert "† Not ours and not a measurement" in md
    summary = pd.read_csv(synth["out"] / "tables" / "summary.csv")
    assert not any("floor" in c for c in summary.columns)  # measurements only
    readme = (synth["out"] / "README.md").read_text()
    assert "reference code floor (%) †" in readme and "† Not ours" in readme


def test_fully_missing_group_shows_missing_n0(synth: dict, tmp_path: Path) -> None:
    extra = {"dataset": "cifar100", "arch": "vgg16", "method": "dense", "seed": 0}
    exp = [*json.loads(synth["expected"].read_text()), extra]
    (tmp_path / "exp.yaml").write_text(json.dumps(exp))
    col = collect(synth["root"], expected=load_expected(tmp_path / "exp.yaml", [PROFILE]))
    from weightswitch.report.tables import summary_display

    summary = summary_table(col)
    row = summary[summary.dataset == "cifar100"].iloc[0]
    assert row["n"] == 0 and row["status"] == "missing" and math.isnan(row["test_acc_pct_mean"])
    shown = summary_display(summary, expected=True)
    cells = shown[shown.dataset == "cifar100"].iloc[0]
    assert cells["acc"] == "missing" and cells["n"] == "0/1"


def test_extra_seeds_of_one_method_count_and_label_the_budget(tmp_path: Path) -> None:
    """A study may give one method more seeds than the grid (e.g. the switcher, whose spread
    decides whether one seed says anything): n counts them and the budget says so."""
    from weightswitch.report.index import budget_text
    from weightswitch.report.tables import summary_display

    root = tmp_path / "runs"
    for method in ("dense", "switcher"):
        write_run(root, "mnist", "lenet300", method, 0)
    for seed in (1, 2):
        write_run(root, "mnist", "lenet300", "switcher", seed)
    exp = [
        {"dataset": "mnist", "arch": "lenet300", "method": m, "seed": 0}
        for m in ("dense", "switcher")
    ]
    (tmp_path / "exp.json").write_text(json.dumps(exp))
    col = collect(root, expected=load_expected(tmp_path / "exp.json", [PROFILE]))
    shown = summary_display(summary_table(col), expected=True).set_index("method")
    assert shown.loc["switcher", "n"] == "3/3" and shown.loc["dense", "n"] == "1/1"
    assert "1-3 seeds per method (0, 1, 2)" in budget_text(col, PROFILE)


def test_expected_from_params_yaml(synth: dict, tmp_path: Path) -> None:
    params = {
        "grid": "mini",
        "profile": PROFILE,
        "models": [{"dataset": d, "arch": a} for d, a in PAIRS],
        # gate-ranked pruning is a frontier point per sparsity, never an expected run
        "methods": {m: {} for m in (*METHODS, "gate", "gate-weight-free")},
        "seeds": list(SEEDS),
    }
    path = tmp_path / "params.yaml"
    path.write_text(json.dumps(params))
    exp = load_expected(path, ["ignored"])
    assert len(exp) == 20 and {r.profile for r in exp} == {PROFILE}
    assert not {r.method for r in exp} & {"gate", "gate-weight-free"}
    col = gather(synth["root"], None, path, log=lambda _: None)
    assert col.grid == "mini" and len(col.missing) == 2
    assert "(grid mini)" in summary_section(col, summary_table(col)).caption
    assert _profiles(col).loc[0, "grid"] == "mini"


def test_a_grids_report_leaves_out_another_grids_runs_in_the_same_folder(
    tmp_path: Path,
) -> None:
    """Grids share results/runs/<profile>: the mnist grid's report must not pool cifar runs."""
    root = tmp_path / "runs"
    for pair in PAIRS:
        for method in ("dense", "switcher"):
            write_run(root, *pair, method, 0)
    params = {
        "grid": "mnist",
        "profile": PROFILE,
        "models": [{"dataset": "mnist", "arch": "lenet300"}],
        "methods": {"dense": {}, "switcher": {}},
        "seeds": [0],
    }
    (tmp_path / "params.yaml").write_text(json.dumps(params))
    col = gather(root, PROFILE, tmp_path / "params.yaml", log=lambda _: None)
    assert set(col.runs["dataset"]) == set(col.history["dataset"]) == {"mnist"}
    assert set(col.layers["dataset"]) == {"mnist"} and len(col.ok) == 2
    assert any("left out the runs of cifar10/resnet18" in w for w in col.warnings)


def test_references_are_separate(synth: dict) -> None:
    tables = synth["out"] / "tables"
    summary = pd.read_csv(tables / "summary.csv")
    assert not {"source", "kind", "reference"} & set(summary.columns)
    refs = pd.read_csv(tables / "references.csv")
    assert refs["source"].notna().all() and (refs["source"].str.len() > 0).all()
    han = refs[(refs.arch == "lenet300") & (refs.setting == "dense")].iloc[0]
    assert han["test_accuracy_pct"] == pytest.approx(98.36)
    floors = refs[refs.kind == "reference implementation"].set_index(["arch", "setting"])
    assert floors["test_accuracy_pct"].to_dict() == {
        ("lenet300", "switcher (connection gates)"): 98.50,
        ("lenet300", "switcher-neuron (neuron gates)"): 98.42,
        ("lenet5", "switcher (connection gates)"): 99.29,
        ("lenet5", "switcher-neuron (neuron gates)"): 99.32,
    }
    assert "not a measurement" in (tables / "references.md").read_text()


FIGURES = [
    "accuracy_vs_sparsity",
    "training_curves_mnist_lenet300",
    "training_curves_cifar10_resnet18",
    "layer_sparsity",
    "gate_histograms",
    "gate_maps_mnist_lenet300",
    "gate_maps_cifar10_resnet18",
]


def test_every_figure_png_and_pdf(synth: dict) -> None:
    """One profile per report folder: figures/ holds only PNG (what `dvc plots` renders)."""
    fdir, pdir = synth["out"] / "figures", synth["out"] / "pdf"
    assert {p.suffix for p in fdir.rglob("*") if p.is_file()} == {".png"}
    for stem in FIGURES:
        png, pdf = fdir / f"{stem}.png", pdir / f"{stem}.pdf"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", stem
        assert pdf.read_bytes()[:5] == b"%PDF-", stem
    assert not list(synth["out"].rglob("*.tmp"))


def test_readme_indexes_everything(synth: dict) -> None:
    text = synth["readme"].read_text()
    out = synth["out"]
    produced = [p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()]
    assert "metrics.json" in produced and len(produced) > 20
    for rel in produced:
        if rel != "README.md" and not rel.startswith("records/"):
            assert f"({rel})" in text, rel
    assert "(records/)" in text
    for stem in FIGURES:
        assert f"pdf/{stem}.pdf" in text
    assert "Profile quick; seeds 0, 1" in text  # a figure caption
    assert "reduced-budget" in text.lower() and "by code commit" in text
    for key in (
        "@misc{weightswitch",
        "https://arxiv.org/abs/2103.15590",
        "han2015learning",
        "https://arxiv.org/abs/2110.05954",
        "Han, M. and Liu, X. and Hai, Z. and Li, Z.",
    ):
        assert key in text


def test_single_seed_no_switcher_and_stale_files(tmp_path: Path) -> None:
    root = tmp_path / "runs"
    for method in ("dense", "magnitude"):
        write_run(root, "mnist", "lenet300", method, 0, profile="smoke")
    out = tmp_path / "reports"
    stale = out / "figures" / "old" / "gone.png"  # a previous report's file in OUR folder
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"x")
    (out / "notes.txt").write_text("not ours")  # outside tables/ and figures/: kept
    logs: list[str] = []
    readme = build_report(root, out, ReportOptions(log=logs.append, warn=logs.append))
    assert not stale.exists() and not stale.parent.exists() and (out / "notes.txt").exists()
    metrics = json.loads((out / "metrics.json").read_text())
    dense = metrics["mnist"]["lenet300"]["dense"]  # one profile: keys do not start with it
    assert dense["n"] == 1 and dense["test_acc_pct_std"] is None
    assert metrics["mnist"]["lenet300"]["switcher"]["test_acc_pct"] is None
    text = readme.read_text()
    assert "gate histograms and gate maps skipped" in text
    assert not list((out / "figures").glob("gate_*"))
    summary = pd.read_csv(out / "tables" / "summary.csv")
    sw = summary[summary.method == "switcher"].iloc[0]
    assert sw["n"] == 0 and sw["status"] == "missing"  # the design's methods always listed
    md = (out / "tables" / "summary.md").read_text()
    assert "| mnist | lenet300 | dense |" in md and "± —" in md
    assert any(line.startswith("wrote ") for line in logs)


def test_large_gate_maps_are_pooled(tmp_path: Path) -> None:
    image = np.random.default_rng(0).random((4096, 4096), dtype=np.float32)
    image[:8, :8] = 0.0  # exactly one all-zero 8x8 block
    mean, top, block = pool_blocks(image, 512)
    assert mean.shape == (512, 512) and block == (8, 8)
    assert (top == 0).sum() == 1 and top[0, 0] == 0
    assert mean[1, 1] == pytest.approx(image[8:16, 8:16].mean(), rel=1e-5)
    odd, _, block = pool_blocks(np.ones((1000, 10), dtype=np.float32), 512)
    assert odd.shape == (500, 10) and block == (2, 1)

    from weightswitch.report import figures as F
    from weightswitch.report.gates import gate_maps

    root = tmp_path / "runs"
    write_run(root, "cifar10", "vgg16", "switcher", 0, gate_shapes={"head.0": (1100, 600)})
    col = collect(root)
    maps = gate_maps(col.runs, max_side=512)
    assert maps[0].pooled and maps[0].shape == (600, 1100)
    plots = F.gate_maps(maps, PROFILE, str(root))
    assert "block pooling" in plots[0].caption
    F.plt.close("all")


def test_cli_errors_on_no_runs(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    (tmp_path / "empty").mkdir()
    code = main(["report", "--results", str(tmp_path / "empty"), "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err.strip()
    assert code == 1 and len(err.splitlines()) == 1 and "no completed runs" in err
    code = main(["report", "--results", str(tmp_path / "nope"), "--out", str(tmp_path / "o")])
    assert code == 1 and "does not exist" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_cli_profile_filter(synth: dict, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    code = main(
        [
            "report",
            "--results",
            str(synth["root"]),
            "--out",
            str(tmp_path / "o"),
            "--profile",
            "paper",
        ]
    )
    err = capsys.readouterr().err
    assert code == 1 and "profiles present: quick" in err


def test_profiles_coexist_and_share_metric_keys(tmp_path: Path) -> None:
    """Issue 14.8: regenerating one grid x profile's report leaves every other one alone;
    the workspace's headline metrics use the same keys for every profile."""
    import hashlib

    root = tmp_path / "runs"
    for profile in ("quick", "smoke"):
        for method in ("dense", "magnitude"):
            write_run(root, "mnist", "lenet300", method, 0, profile=profile)
    reports = tmp_path / "reports"

    def report(profile: str) -> dict:
        options = ReportOptions(
            profile=profile,
            grid="mini",
            workspace=reports,
            log=lambda _: None,
            warn=lambda _: None,
        )
        build_report(root / profile, reports / "mini" / profile, options)
        return json.loads((reports / "metrics" / "mnist-lenet300-magnitude.json").read_text())

    def digest(folder: Path) -> dict:
        return {
            p: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.rglob("*") if p.is_file()
        }

    quick = report("quick")
    before = digest(reports / "mini" / "quick")
    smoke = report("smoke")
    assert digest(reports / "mini" / "quick") == before and len(before) > 10
    assert set(quick) == set(smoke) == set(HEADLINE_KEYS)  # dvc metrics diff lines them up
    assert (smoke["n"], smoke["epochs"], smoke["train_images"], smoke["acc_std"]) == (
        1,
        6,
        1000,
        None,
    )
    names = sorted(p.name for p in (reports / "metrics").iterdir())
    assert names == sorted(f"mnist-lenet300-{m}.json" for m in METHODS)
    index = (reports / "README.md").read_text()
    assert "(mini/quick/README.md)" in index and "(mini/smoke/README.md)" in index
    text = (reports / "mini" / "smoke" / "README.md").read_text()
    assert "Budget: grid mini, profile smoke (reduced budget" in text
    assert "1,000 training images, 1 seed(s) (0)" in text


def test_workspace_index_lists_report_folders_and_benchmark_tables(tmp_path: Path) -> None:
    from weightswitch.report.index import write_workspace_index

    (tmp_path / "mnist" / "cpu" / "figures").mkdir(parents=True)
    (tmp_path / "mnist" / "cpu" / "README.md").write_text("# report\n")
    (tmp_path / "mnist" / "cpu" / "figures" / "a.png").write_bytes(b"")
    (tmp_path / "bench").mkdir()
    (tmp_path / "bench" / "seed_spread_x.md").write_text("\n# Seed spread of X\n\ntext\n")
    (tmp_path / "bench" / "x_seeds").mkdir()  # a report a benchmark file links: not a grid
    (tmp_path / "bench" / "x_seeds" / "README.md").write_text("# report\n")
    text = write_workspace_index(tmp_path).read_text()
    assert "[mnist/cpu/README.md](mnist/cpu/README.md) | ? | 1 |" in text  # no runs.csv
    assert "x_seeds" not in text and "| `bench` |" not in text
    assert "- [bench/seed_spread_x.md](bench/seed_spread_x.md): Seed spread of X" in text
    (tmp_path / "bench" / "seed_spread_x.md").unlink()
    assert "bench/" not in write_workspace_index(tmp_path).read_text()


def test_workspace_index_counts_runs_labels_partial_reports_and_keeps_full_commits(
    tmp_path: Path,
) -> None:
    """Issue 29: '2 of 54 runs' in the index; a run from a dirty tree says '-dirty'."""
    from weightswitch.report.index import write_workspace_index

    dirty, clean = "4805c7674d0a4f34444a295172a1ad3ff11ea153-dirty", "10f24c2282" + "0" * 30
    for grid, statuses, commits in (
        ("paper", ["ok", "ok", "missing"], [clean, clean, None]),
        ("cpu", ["ok", "diverged"], [dirty, clean]),
    ):
        folder = tmp_path / "mnist" / grid
        (folder / "tables").mkdir(parents=True)
        (folder / "README.md").write_text("# report\n")
        pd.DataFrame({"status": statuses, "git_commit": commits}).to_csv(
            folder / "tables" / "runs.csv", index=False
        )
    text = write_workspace_index(tmp_path).read_text()
    assert "| runs | figures |" in text
    assert "[mnist/paper/README.md](mnist/paper/README.md) | 2 of 3 (partial) | 0 |" in text
    assert "[mnist/cpu/README.md](mnist/cpu/README.md) | 1 | 0 |" in text  # diverged: a result
    assert f"- `mnist/cpu`: `{clean}`, `{dirty}`" in text
    assert f"- `mnist/paper`: `{clean}`" in text


def test_partial_reports_say_so_in_every_figure_caption_and_the_readme(
    synth: dict, tmp_path: Path
) -> None:
    """The synthetic grid lacks 2 of its 20 runs: the README and each figure say so."""
    text = synth["readme"].read_text()
    label = "partial report: 18 of 20 runs (2 missing)"
    assert "**Partial report** (profile `quick`): 18 of 20 runs (2 missing)" in text
    assert text.count(f"This is a {label}.") == len(FIGURES)

    from weightswitch.report.plots import Plot, plt, publish

    plot = Plot("x", plt.figure(), "caption.")
    entry = publish(plot, tmp_path, "budget", label, "x", log=lambda _: None)
    assert label in [t.get_text() for t in plot.figure.texts]  # in the image itself
    assert entry.caption.endswith(f"Budget: budget. This is a {label}.")
    complete = Plot("y", plt.figure(), "caption.")
    publish(complete, tmp_path, "budget", "", "y", log=lambda _: None)
    assert [t.get_text() for t in complete.figure.texts] == ["budget"]


def test_run_commits_are_never_cut(synth: dict, tmp_path: Path) -> None:
    """A cut hash drops '-dirty': the profiles table and the citation keep commits whole."""
    from weightswitch.report.index import bibtex

    root = tmp_path / "runs"
    write_run(root, "mnist", "lenet300", "dense", 0)
    path = root / PROFILE / run_name("mnist", "lenet300", "dense", 0) / "metrics.json"
    dirty = "d93222b7c131dabb7eee523ac90be31620acf1dd-dirty"
    path.write_text(json.dumps({**json.loads(path.read_text()), "git_commit": dirty}))
    assert _profiles(collect(root)).loc[0, "run commits"] == dirty
    from datetime import datetime, timezone

    assert f"Commit {dirty};" in bibtex(dirty, datetime.now(timezone.utc), "mnist", PROFILE)


def test_training_curves_wrap_into_a_grid_a_laptop_can_show(tmp_path: Path) -> None:
    """Nine methods: 3 x 3 cells (accuracy above loss), about 1,600 px wide, not 9 in a row."""
    from weightswitch.catalog import METHODS as ALL
    from weightswitch.report.figures import training_curves
    from weightswitch.report.plots import save

    root = tmp_path / "runs"
    for method in list(ALL)[:9]:
        write_run(root, "mnist", "lenet300", method, 0)
    plots = training_curves(collect(root).history, PROFILE, "synthetic")
    plot = save(plots[0], tmp_path)
    from PIL import Image

    width, height = Image.open(plot.files[0]).size
    assert 1300 <= width <= 1700 and height > width * 0.8, (width, height)
    cells = [ax.get_title() for ax in plot.figure.axes if ax.get_title()]  # one per method
    assert len(cells) == 9 and cells[0].startswith("dense") and len(plot.figure.axes) == 18
    columns = {round(ax.get_position().x0, 3) for ax in plot.figure.axes}
    assert len(columns) == 3


def test_no_accuracy_vs_sparsity_figure_of_dense_runs_alone(tmp_path: Path) -> None:
    from weightswitch.report import figures as F
    from weightswitch.report.tables import runs_table

    root = tmp_path / "runs"
    write_run(root, "mnist", "lenet300", "dense", 0)
    assert F.accuracy_vs_sparsity(runs_table(collect(root)), PROFILE, "synthetic") is None
    write_run(root, "mnist", "lenet300", "magnitude", 0)
    assert F.accuracy_vs_sparsity(runs_table(collect(root)), PROFILE, "synthetic") is not None
    F.plt.close("all")


@pytest.mark.parametrize(
    ("acc", "diverged", "centre", "legend"),
    [
        ((97.0, 97.2, 10.0), 0, (2.0, 97.0), "switcher: median of 3 (1 collapsed)"),
        ((97.0, 97.2), 0, (1.5, 97.1), "switcher: mean of 2"),
        ((97.0, 10.0), 0, None, "switcher: 2 seeds (1 collapsed), no centre"),
        ((10.0, 11.0, 9.0), 0, (2.0, 10.0), "switcher: median of 3 (3 collapsed)"),
        ((97.0, 97.2), 1, (1.5, 97.0), "switcher: median of 3 (1 diverged)"),
        ((97.0,), 0, (1.0, 97.0), "switcher: 1 seed"),
        ((10.0,), 0, (1.0, 10.0), "switcher: 1 seed (1 collapsed)"),
    ],
)
def test_a_mean_is_drawn_only_where_the_seeds_agree(
    acc: tuple[float, ...], diverged: int, centre: tuple | None, legend: str
) -> None:
    """Seeds at 97, 97 and 10 % (one collapsed): their mean, 68 %, is where no run is."""
    from weightswitch.report.seeds import collapsed, summarise_seeds

    x = [1.0 + i for i in range(len(acc))]
    summary = summarise_seeds(x, acc, collapsed(acc, "mnist"), diverged)
    assert summary.centre == (pytest.approx(centre) if centre else None)
    assert summary.legend("switcher") == legend


def test_one_collapsed_seed_does_not_flatten_the_accuracy_axis() -> None:
    """Issue 38: a 10% seed used to stretch the axis to 10-100; now the axis spans the runs that
    did not collapse and the collapsed one is written on the bottom edge."""
    from weightswitch.report import figures as F

    runs = pd.DataFrame(
        [
            {"profile": PROFILE, "dataset": "mnist", "arch": "lenet300", "method": m,
             "status": "ok", "fc_sparsity_pct": s, "test_acc_pct": a, "seed": i}
            for i, (m, s, a) in enumerate(
                [("dense", 0.0, 97.0), ("switcher", 1.4, 97.1), ("switcher", 0.1, 96.7),
                 ("switcher", 61.7, 9.8)]
            )
        ]
    )  # fmt: skip
    plot = F.accuracy_vs_sparsity(runs, PROFILE, "synthetic")
    ax = plot.figure.axes[0]
    low, high = ax.get_ylim()
    assert 90 < low < 96.7 and 97.1 < high < 100
    assert any("collapsed: 9.8%" in t.get_text() for t in ax.texts)
    F.plt.close("all")
