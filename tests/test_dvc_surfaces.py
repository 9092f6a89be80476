"""What a researcher sees through DVC and MLflow, on the real tools (mini grid, smoke profile,
generated data): one default that `dvc exp run -S` keeps; per-seed experiments queued in
parallel against one MLflow server and combined into one table; DVC plots with data; reports
of other grids and profiles left alone; results pulled by a second clone from the DVC remote.

The project is copied into a fresh git repository inside a parent folder, so the committed
DVC remote (`../../weightswitch-dvc-storage`, relative to `.dvc/`) lands in that folder too.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
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
FRONTIER = ("magnitude", "iterative", "random")  # smoke: one sparsity point each


def sh(cmd: list[str], cwd: Path, env: dict[str, str], timeout: float = 600) -> str:
    """Run a command, fail the test with its output if it fails; return stdout+stderr."""
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"{' '.join(cmd)} failed ({proc.returncode}):\n{out[-6000:]}"
    return out


def project_env(mirror: Path, checksums: Path, **extra: str) -> dict[str, str]:
    """The environment of a subprocess in a test project: this venv first on PATH, the fake
    mirror trusted by its checksums, no user MLflow/weightswitch settings, a git identity."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "WEIGHTSWITCH_"))}
    env.update(
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
        WEIGHTSWITCH_MIRROR=str(mirror),
        WEIGHTSWITCH_CHECKSUMS=str(checksums),
        DVC_NO_ANALYTICS="1",
        OMP_NUM_THREADS="1",
        GIT_AUTHOR_NAME="t",
        GIT_AUTHOR_EMAIL="t@example.invalid",
        GIT_COMMITTER_NAME="t",
        GIT_COMMITTER_EMAIL="t@example.invalid",
        **extra,
    )
    return env


def _env(fake_mirror) -> dict[str, str]:
    return project_env(fake_mirror.path, fake_mirror.checksums_file)


def make_project(parent: Path, env: dict[str, str]) -> Path:
    """A git+DVC copy of the project (committed DVC config and templates), on mini x smoke."""
    repo = parent / "project"
    repo.mkdir(parents=True)
    for name in ("dvc.yaml", ".gitignore", ".dvcignore", "pyproject.toml"):
        shutil.copy2(PROJECT / name, repo / name)
    for name in ("conf", "src"):
        shutil.copytree(
            PROJECT / name, repo / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info")
        )
    sh(["git", "init", "-q"], repo, env)
    sh(["dvc", "init", "-q"], repo, env)
    shutil.copy2(PROJECT / ".dvc" / "config", repo / ".dvc" / "config")
    shutil.copytree(PROJECT / ".dvc" / "plots", repo / ".dvc" / "plots")
    sh(["weightswitch", "params", "--grid", "mini", "--profile", "smoke"], repo, env)
    sh(["git", "add", "-A"], repo, env)
    sh(["git", "commit", "-qm", "init"], repo, env)
    return repo


def planned(output: str) -> set[str]:
    return set(re.findall(r"Running stage '([^']+)'", output))


def mentioned(output: str) -> set[str]:
    """Every stage a dry run names: to run, failed (no data in a dry run), or skipped."""
    return set(re.findall(r"'((?:fetch|train|prune|ablate|frontier)@[^']+|report)'", output))


def dry_run(repo: Path, env: dict[str, str], override: str) -> str:
    """`dvc exp run --dry -k -S override`. A dry run cannot go past a stage whose inputs do
    not exist yet; with -k it still names every stage it would run (and exits 255)."""
    cmd = ["dvc", "exp", "run", "--dry", "-k", "-S", override]
    proc = subprocess.run(cmd, cwd=repo, env=env, capture_output=True, text=True, timeout=300)
    out = proc.stdout + proc.stderr
    assert "Reproducing experiment" in out, out
    return out


def test_one_key_override_stays_on_the_workspace_grid(tmp_path: Path, fake_mirror) -> None:
    env = _env(fake_mirror)
    repo = make_project(tmp_path, env)
    conf = (repo / "conf" / "config.yaml").read_text()
    assert "- grid: mini" in conf and "- profile: smoke" in conf  # the workspace's choice
    out = dry_run(repo, env, "seeds=[3]")
    mini = {"fetch@fashion_mnist", "report"}
    mini |= {f"train@model0-{m}-3" for m in ("dense", "switcher", "switcher-neuron")}
    mini |= {f"prune@model0-{m}-3" for m in ("magnitude", "iterative", "random")}
    mini |= {f"ablate@model0-{m}-3" for m in ("switcher-noise", "free-gates", "free-gates-neuron")}
    mini |= {f"frontier@model0-{m}-0.9-3" for m in ("magnitude", "iterative", "random")}
    assert "fetch@fashion_mnist" in planned(out) and mentioned(out) == mini, out
    # naming another pair is still one override away, and it does not become the default
    out = dry_run(repo, env, "grid=study")
    assert {"fetch@mnist", "fetch@cifar10", "fetch@cifar100"} <= mentioned(out), out
    assert "- grid: mini" in (repo / "conf" / "config.yaml").read_text()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for_server(url: str, proc: subprocess.Popen, timeout: float = 600) -> None:
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "mlflow server exited"
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"mlflow server at {url} did not answer in {timeout} s")


def _digest(folder: Path) -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.mark.e2e
@pytest.mark.skipif(
    os.environ.get("WEIGHTSWITCH_SLOW_E2E") == "0",
    reason="skipped by WEIGHTSWITCH_SLOW_E2E=0 (it takes 5-15 min: a real MLflow server, "
    "dvc queue -j 2, two clones and a remote)",
)
def test_parallel_seeds_server_report_plots_and_remote(tmp_path: Path, fake_mirror) -> None:
    env = _env(fake_mirror)
    repo = make_project(tmp_path, env)
    # another pair's committed report, which nothing below may touch
    other = repo / "reports" / "fashion" / "quick"
    (other / "figures").mkdir(parents=True)
    (other / "figures" / "accuracy_vs_sparsity.png").write_bytes(b"\x89PNG committed")
    (other / "README.md").write_text("# fashion x quick\n")
    sh(["dvc", "repro", "fetch@fashion_mnist"], repo, env)  # data once, for every experiment
    sh(["git", "add", "-A"], repo, env)
    sh(["git", "commit", "-qm", "fashion x quick report; data"], repo, env)
    before = _digest(other)

    # README "Running in parallel", in its order: server in the background, URI, queue, start
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    server_dir = tmp_path / "mlflow-server"
    server_dir.mkdir()
    server = subprocess.Popen(
        [
            "mlflow",
            "server",
            "--backend-store-uri",
            f"sqlite:///{server_dir / 'mlflow.db'}",
            "--artifacts-destination",
            str(server_dir / "artifacts"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
        ],
        cwd=server_dir,
        env={**env, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        _wait_for_server(url, server)
        env["MLFLOW_TRACKING_URI"] = url
        for seed in (0, 1):
            sh(["dvc", "exp", "run", "--queue", "-S", f"seeds=[{seed}]"], repo, env)
        # the workers outlive `dvc queue start`: its output goes to a file, not a pipe
        with (tmp_path / "queue.log").open("w") as log:
            started = subprocess.run(
                ["dvc", "queue", "start", "-j", "2"],
                cwd=repo,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                timeout=120,
            )
        assert started.returncode == 0, (tmp_path / "queue.log").read_text()
        deadline = time.monotonic() + 1800  # a few minutes on an idle 2-core machine
        try:
            while True:
                status = sh(["dvc", "queue", "status"], repo, env)
                if not re.search(r"\b(Queued|Running)\b", status):
                    break
                assert time.monotonic() < deadline, status
                time.sleep(3)
        finally:  # never leave workers behind, whatever happened
            subprocess.run(
                ["dvc", "queue", "stop", "--kill"],
                cwd=repo,
                env=env,
                capture_output=True,
                timeout=120,
            )
        assert status.count("Success") == 2, status

        from mlflow.tracking import MlflowClient

        client = MlflowClient(tracking_uri=url)
        exp = client.get_experiment_by_name("weightswitch/mini/smoke")
        assert exp is not None and exp.tags["mlflow.experimentKind"] == "custom_model_development"
        runs = client.search_runs([exp.experiment_id], "attributes.status = 'FINISHED'")
        assert sorted((r.data.tags["method"], r.data.tags["seed"]) for r in runs) == sorted(
            (m, s) for m in (*METHODS, *FRONTIER) for s in ("0", "1")
        )
        assert len({r.data.tags["dvc_exp"] for r in runs}) == 2  # one DVC experiment per seed
        assert all(r.data.tags["grid"] == "mini" for r in runs)

        # combine: the 2-seed grid in the workspace; every run comes from DVC's run cache
        combined = sh(["dvc", "exp", "run", "-S", "seeds=[0,1]"], repo, env)
    finally:
        os.killpg(server.pid, signal.SIGTERM)  # the server and the workers it started
        server.wait(timeout=60)
    trained = {
        s for s in planned(combined) if s.startswith(("train@", "prune@", "ablate@", "frontier@"))
    }
    assert not trained, f"retrained instead of restoring from the run cache: {trained}"
    # per seed: 3 train, 3 prune, 3 ablate, 3 frontier (smoke: one sparsity point)
    cached = re.findall(r"Stage '(?:train|prune|ablate|frontier)@[^']+' is cached", combined)
    assert len(cached) == 24, combined
    report = repo / "reports" / "mini" / "smoke"
    summary = pd.read_csv(report / "tables" / "summary.csv")
    assert sorted(summary["method"]) == sorted(METHODS) and (summary["n"] == 2).all()
    assert "± —" not in (report / "tables" / "summary.md").read_text()  # a std everywhere
    assert _digest(other) == before  # profiles coexist
    index = (repo / "reports" / "README.md").read_text()
    assert "(fashion/quick/README.md)" in index and "(mini/smoke/README.md)" in index

    # DVC: compact metrics with the same keys for every profile; plots all with data
    metrics = repo / "reports" / "metrics"
    assert sorted(p.stem for p in metrics.iterdir()) == sorted(
        f"fashion_mnist-lenet300-{m}" for m in METHODS
    )
    switcher = json.loads((metrics / "fashion_mnist-lenet300-switcher.json").read_text())
    assert switcher["n"] == 2 and switcher["acc_std"] is not None
    header = sh(["dvc", "metrics", "show"], repo, env).splitlines()[0].split()
    assert header == ["Path", "acc", "acc_std", "epochs", "n", "sparsity", "train_images"]
    plots = json.loads(sh(["dvc", "plots", "show", "--json"], repo, env))
    assert not plots.get("errors"), plots.get("errors")
    data = plots["data"]
    images = [k for k in data if k.endswith(".png")]
    assert len(images) >= 5 and all(k.endswith(".png") for k in data if "." in k[-5:])
    for name, items in data.items():
        for item in items:
            if item["type"] == "vega":
                values = item["content"]["data"]["values"]
                assert values and {"method", "arch", "seed"} <= set(values[0]), name
                assert item["content"]["spec"]["encoding"]["color"]["field"] == "method"
            else:
                assert item["type"] == "image" and item["url"], name
    html = sh(["dvc", "plots", "show"], repo, env)
    page = (repo / "dvc_plots" / "index.html").read_text()
    assert "cdn.jsdelivr" not in page and "vegaEmbed" in page, html

    # a second clone pulls the results from the committed remote instead of retraining
    sh(["dvc", "push"], repo, env)
    sh(["git", "add", "-A"], repo, env)
    sh(["git", "commit", "-qm", "2 seeds"], repo, env)
    assert (tmp_path / "weightswitch-dvc-storage").is_dir()
    clone = tmp_path / "clone"
    sh(["git", "clone", "-q", str(repo), str(clone)], tmp_path, env)
    sh(["dvc", "pull"], clone, env)
    pulled = clone / "results" / "runs" / "smoke" / "fashion_mnist-lenet300-switcher-s1"
    assert json.loads((pulled / "metrics.json").read_text())["seed"] == 1
    status = sh(["dvc", "status"], clone, env)
    assert "up to date" in status, status


def test_params_switches_the_workspace_default(tmp_path: Path, capsys) -> None:
    from weightswitch.cli import main

    conf = tmp_path / "conf"
    shutil.copytree(PROJECT / "conf", conf)
    text = (conf / "config.yaml").read_text()
    assert (
        main(
            [
                "params",
                "--conf",
                str(conf),
                "--out",
                str(tmp_path / "params.yaml"),
                "--profile",
                "smoke",
            ]
        )
        == 0
    )
    changed = (conf / "config.yaml").read_text()
    assert "- profile: smoke" in changed and changed.count("\n") == text.count("\n")
    params = yaml.safe_load((tmp_path / "params.yaml").read_text())
    assert params["profile"] == "smoke" and params["grid"] == "fashion"  # grid kept
    # composing elsewhere (a benchmark's scratch file) leaves the workspace default alone
    assert (
        main(
            [
                "params",
                "--conf",
                str(conf),
                "--out",
                str(tmp_path / "x" / "p.yaml"),
                "--grid",
                "study",
            ]
        )
        == 0
    )
    assert (conf / "config.yaml").read_text() == changed
    capsys.readouterr()
    assert main(["params", "--conf", str(conf), "--profile", "fast"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "unknown profile 'fast'" in err and "quick" in err
    assert (conf / "config.yaml").read_text() == changed  # nothing half-written


def test_plot_templates_style_every_method_as_the_figures_do() -> None:
    """Colour and shape per method in the DVC templates == report.style (ablation methods
    included), so a method looks the same in `dvc plots` and in every committed figure."""
    from weightswitch.report.style import METHOD_STYLE

    conf = yaml.safe_load((PROJECT / "conf" / "config.yaml").read_text())
    assert set(conf["methods"]) <= set(METHOD_STYLE)  # every method of the suite is styled
    colours = [style[0] for style in METHOD_STYLE.values()]
    assert len(set(colours)) == len(colours)
    for name in ("method_scatter.json", "method_lines.json"):
        scales = re.findall(
            r'"domain": (\[[^]]*\]),\s*"range": (\[[^]]*\])',
            (PROJECT / ".dvc" / "plots" / name).read_text(),
        )
        assert scales, name
        for domain, values in scales:
            domain, values = json.loads(domain), json.loads(values)
            assert domain == list(METHOD_STYLE), name
            column = 0 if values[0].startswith("#") else 3
            assert values == [METHOD_STYLE[m][column] for m in domain], name


def test_offline_plot_template_gets_no_cdn_scripts() -> None:
    """DVC's renderer fills its scripts placeholder wherever it appears (even in a comment):
    the offline template must come out of the real renderer without any CDN script tag."""
    from dvc_render.html import HTML
    from dvc_render.vega import VegaRenderer

    template = (PROJECT / ".dvc" / "plots" / "offline.html").read_text()
    page = HTML(template).with_scripts(VegaRenderer.SCRIPTS).with_element("<div></div>").embed()
    assert "<script src=" not in page and "vegaEmbed" in page
