"""End to end: the real `dvc repro` of the `mini` grid, `smoke` profile, on generated data.

The project is copied into a fresh git repository; data come through the offline mirror
(fake archives in the upstream formats, trusted by checksums the test injects); MLflow uses
its default, the SQLite file at the project root.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml

PROJECT = Path(__file__).resolve().parents[1]
METHODS = (
    "dense",
    "switcher",
    "switcher-neuron",
    "magnitude",
    "iterative",
    "random",
    "switcher-noise",
    "free-gates",
    "free-gates-neuron",
)
RUN_IDS = [f"fashion_mnist-lenet300-{m}-s0" for m in METHODS]
# the smoke profile's frontier: one sparsity per pruning method
FRONTIER_IDS = [f"fashion_mnist-lenet300-{m}-0.9-s0" for m in ("magnitude", "iterative", "random")]


def sh(cmd: list[str], cwd: Path, env: dict[str, str]) -> str:
    """Run a command, fail the test with its output if it fails; return stdout+stderr."""
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"{' '.join(cmd)} failed ({proc.returncode}):\n{out[-6000:]}"
    return out


def stages_run(output: str) -> set[str]:
    return set(re.findall(r"Running stage '([^']+)'", output))


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, fake_mirror) -> tuple[Path, dict]:
    """A git+DVC copy of the project, params composed for grid=mini, profile=smoke."""
    from test_dvc_surfaces import _env, make_project

    env = _env(fake_mirror)
    repo = make_project(tmp_path_factory.mktemp("e2e"), env)
    return repo, env


@pytest.mark.e2e
def test_dvc_repro_end_to_end(project: tuple[Path, dict]) -> None:
    repo, env = project

    first = sh(["weightswitch", "repro"], repo, env)  # `make repro`'s: dvc repro + counter
    ran = stages_run(first)
    counted = re.findall(r"weightswitch repro: stage (\d+) of (\d+): ([^ ]+) ", first)
    assert [(int(k), int(n), name) for k, n, name in counted] == [
        (k, len(ran), name)
        for k, name in enumerate(re.findall(r"Running stage '([^']+)'", first), 1)
    ], first
    assert "ETA ~" in first and "ETA after the first finished stage" in first
    assert "fetch@fashion_mnist" in ran and "report" in ran
    assert len([s for s in ran if s.startswith(("train@", "prune@", "ablate@"))]) == len(RUN_IDS)
    assert len([s for s in ran if s.startswith("frontier@")]) == len(FRONTIER_IDS)

    # every run wrote its outputs, every report file exists and is non-empty
    for run_id in RUN_IDS:
        metrics = repo / "results" / "runs" / "smoke" / run_id / "metrics.json"
        assert metrics.stat().st_size > 0, run_id
    for run_id in FRONTIER_IDS:
        metrics = repo / "results" / "frontier" / "smoke" / run_id / "metrics.json"
        assert metrics.stat().st_size > 0, run_id
    reports = repo / "reports" / "mini" / "smoke"  # one folder per grid x profile
    files = [p for p in reports.rglob("*") if p.is_file()]
    assert (reports / "README.md").is_file() and (reports / "metrics.json").is_file()
    assert any(p.suffix == ".png" for p in files) and any(p.suffix == ".pdf" for p in files)
    assert any(p.suffix == ".csv" for p in files) and any(p.suffix == ".tex" for p in files)
    assert all(p.stat().st_size > 0 for p in files)
    assert (reports / "figures" / "frontier_fashion_mnist_lenet300.png").is_file()
    assert "frontier" in (reports / "tables" / "frontier.csv").read_text()
    index = (reports / "README.md").read_text()
    for p in files:
        if p.parent.name in ("tables", "figures", "pdf"):
            assert p.name in index, f"{p.name} not indexed in {reports}/README.md"

    # one MLflow run per experiment, in the default SQLite store at the project root
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{repo / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("weightswitch/mini/smoke")
    assert experiment is not None
    runs = client.search_runs([experiment.experiment_id])
    assert sorted(r.data.tags.get("method") for r in runs) == sorted(
        [*METHODS, "magnitude", "iterative", "random"]  # the frontier's runs too
    )

    # DVC sees metrics, plots and params out of the box
    shown = sh(["dvc", "metrics", "show"], repo, env)
    assert "reports/metrics/fashion_mnist-lenet300-switcher.json" in shown
    plots = sh(["dvc", "plots", "show", "--json"], repo, env)
    assert "Test accuracy vs FC sparsity" in plots and "accuracy_vs_sparsity" in plots
    experiments = sh(["dvc", "exp", "show", "--json"], repo, env)
    assert "sparsity" in experiments and "snn_optimizer" in experiments
    # a second repro does nothing
    second = sh(["dvc", "repro"], repo, env)
    assert stages_run(second) == set(), second

    # changing one experiment's parameter re-runs only it and the report
    params_file = repo / "params.yaml"
    params = yaml.safe_load(params_file.read_text())
    params["methods"]["switcher-neuron"]["snn_optimizer"]["lr"] = 0.02
    params_file.write_text(yaml.safe_dump(params, sort_keys=False))
    third = sh(["dvc", "repro"], repo, env)
    assert stages_run(third) == {"train@model0-switcher-neuron-0", "report"}, third
