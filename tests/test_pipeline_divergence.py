"""A seed that diverges is a result of the grid, not the end of `dvc repro`: its stage records
the divergence and succeeds, the pruning stage matched to it records the same, DVC sees both as
up to date, and the report counts them as diverged (never as missing, never with a number).
Real dvc on the `mini` x `smoke` grid, generated data; the switcher's lr is raised to blow up.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from test_dvc_surfaces import _env, make_project
from test_pipeline_e2e import sh, stages_run

PRUNE = "prune@model0-magnitude-0"
RUNS = Path("results") / "runs" / "smoke"


@pytest.mark.e2e
def test_a_diverging_seed_is_recorded_and_the_grid_goes_on(tmp_path: Path, fake_mirror) -> None:
    env = _env(fake_mirror)
    repo = make_project(tmp_path, env)
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["methods"]["switcher"]["optimizer"] = {"lr": 1e10}
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))

    out = sh(["dvc", "repro", PRUNE], repo, env)  # exit 0 although the switcher diverged
    assert {"train@model0-dense-0", "train@model0-switcher-0", PRUNE} <= stages_run(out)
    assert "diverged; recorded as this run's result" in out
    switcher = repo / RUNS / "fashion_mnist-lenet300-switcher-s0"
    pruned = repo / RUNS / "fashion_mnist-lenet300-magnitude-s0"
    assert (repo / RUNS / "fashion_mnist-lenet300-dense-s0" / "metrics.json").is_file()
    for run in (switcher, pruned):
        assert (run / "diverged.json").is_file() and not (run / "metrics.json").exists()
    assert "--match" in json.loads((pruned / "diverged.json").read_text())["message"]
    again = sh(["dvc", "repro", PRUNE], repo, env)  # the recorded result is up to date
    assert not stages_run(again), again

    sh(
        [
            "weightswitch",
            "report",
            "--results",
            "results/runs",
            "--out",
            "reports/check",
            "--profile",
            "smoke",
        ],
        repo,
        env,
    )
    summary = (repo / "reports" / "check" / "tables" / "summary.md").read_text()
    row = next(line for line in summary.splitlines() if "| switcher |" in line)
    assert "diverged" in row and "0 (1 diverged)" in row
    listed = (repo / "reports" / "check" / "tables" / "missing.csv").read_text()
    assert listed.count("diverged") >= 2 and "NaN/inf" in listed
