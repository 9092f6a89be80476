"""Every code snippet of README.md and docs/*.md runs, in a copy of a real workspace.

A fenced block in bash/sh/shell/console or python is a snippet. It runs in a fresh copy of one
workspace: the project on the `mini` grid x `smoke` profile, its pipeline reproduced by
`dvc repro` on generated data (offline mirror of fake archives), MLflow in its default SQLite
file, results committed. A snippet too long to run (training a grid for hours, installing a
system package, starting a server) says so where a reader sees it, in an HTML comment right
above the block: `<!-- snippet: skip (why) -->`. `<!-- snippet: width N -->` runs the block and
checks that no output line is wider than N columns. docs/extending.md's blocks that open with
`# recipe: NAME` are run, and trained with, by tests/test_extending.py. Other languages
(mermaid, text) are not snippets; a fence without a language is refused, so nothing slips
through.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

import fakedata
from test_dvc_surfaces import make_project, project_env, sh

PROJECT = Path(__file__).resolve().parents[1]
DOCS = [PROJECT / "README.md", *sorted((PROJECT / "docs").glob("*.md"))]
RUN = {"bash": "bash", "sh": "bash", "shell": "bash", "console": "bash", "python": "python"}
DIRECTIVE = re.compile(r"^<!-- snippet: (skip \((?P<why>[^)]+)\)|width (?P<width>\d+)) -->$")


@dataclass(frozen=True)
class Snippet:
    path: Path
    line: int
    lang: str
    code: str
    skip: str | None
    width: int | None

    @property
    def name(self) -> str:
        return f"{self.path.relative_to(PROJECT)}:{self.line}"


def fences(path: Path) -> list[tuple[int, str, str, str]]:
    """(line, language, code, the line above the fence) of every fenced block."""
    lines = path.read_text(encoding="utf-8").splitlines()
    out, i = [], 0
    while i < len(lines):
        opened = re.match(r"^```(\S*)\s*$", lines[i])
        if not opened:
            i += 1
            continue
        end = next(j for j in range(i + 1, len(lines)) if lines[j].startswith("```"))
        above = next((lines[k] for k in range(i - 1, -1, -1) if lines[k].strip()), "")
        out.append((i + 1, opened.group(1), "\n".join(lines[i + 1 : end]) + "\n", above.strip()))
        i = end + 1
    return out


def snippets() -> list[Snippet]:
    found = []
    for path in DOCS:
        for line, lang, code, above in fences(path):
            if lang not in RUN:
                continue
            d = DIRECTIVE.match(above)
            skip = d and d["why"]
            if code.startswith("# recipe: ") and (PROJECT / "tests" / "test_extending.py").exists():
                skip = "a recipe: tests/test_extending.py runs it and trains with it"
            found.append(
                Snippet(path, line, lang, code, skip, int(d["width"]) if d and d["width"] else None)
            )
    return found


ALL = snippets()
RUNNABLE = [s for s in ALL if s.skip is None]


def test_every_fence_names_its_language_and_every_skip_says_why() -> None:
    bare = [
        f"{p.relative_to(PROJECT)}:{line}"
        for p in DOCS
        for line, lang, _, _ in fences(p)
        if not lang
    ]
    assert not bare, f"fenced blocks without a language (```bash, ```text, ...): {bare}"
    stray = [
        f"{p.relative_to(PROJECT)}:{n}"
        for p in DOCS
        for n, text in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
        if "<!-- snippet:" in text and not DIRECTIVE.match(text.strip())
    ]
    assert not stray, f"malformed snippet directives: {stray}"
    assert RUNNABLE, "no snippet runs"


def test_readme_is_a_front_door() -> None:
    text = (PROJECT / "README.md").read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 250
    first_screen = "\n".join(text.splitlines()[:80])
    for needed in (
        "make repro",
        "make test",
        "make smoke",
        "110 stages",
        "min",
        ".png",
    ):
        assert needed in first_screen, needed
    figure = re.search(r"\]\((reports/[^)]+\.png)\)", text)
    assert figure and (PROJECT / figure.group(1)).is_file()
    assert "../shared" not in text
    for link in re.findall(r"\]\(((?:docs|reports)/[^)#]+)", text):
        assert (PROJECT / link).exists(), link


def test_readme_diagram_is_what_weightswitch_dag_generates(tmp_path: Path) -> None:
    """README's stage-kind diagram == `weightswitch dag` on the default fashion x quick."""
    from weightswitch.dag_cli import mermaid
    from weightswitch.params_cli import compose_params

    shutil.copy2(PROJECT / "dvc.yaml", tmp_path / "dvc.yaml")
    shutil.copytree(PROJECT / "conf", tmp_path / "conf")
    compose_params(tmp_path / "conf", tmp_path / "params.yaml", "fashion", "quick", [])
    subprocess.run(
        [Path(sys.executable).with_name("dvc"), "init", "--no-scm", "-q"],
        cwd=tmp_path,
        check=True,
        capture_output=True,
    )
    (block,) = [code for _, lang, code, _ in fences(PROJECT / "README.md") if lang == "mermaid"]
    assert block == mermaid(tmp_path)


# ------------------------------------------------------------------- the shared workspace


def _env(mirror: Path, checksums: Path, share: Path) -> dict[str, str]:
    # no system copy: the mirror is the only data
    return project_env(mirror, checksums, XDG_DATA_DIRS=str(share))


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """mini x smoke, reproduced and committed. The mirror's datasets have 5,500 training
    images, so `weightswitch fetch` with its default 5,000 validation images works too."""
    base = tmp_path_factory.mktemp("snippets")
    sums = fakedata.write_mirror(base / "mirror", ("mnist", "fashion_mnist"), train=5500)
    checksums = fakedata.write_checksums_json(base / "sums.json", sums)
    (base / "share").mkdir()
    env = _env(base / "mirror", checksums, base / "share")
    repo = make_project(base / "ws", env)
    sh(["dvc", "repro"], repo, env, timeout=1800)
    sh(["git", "add", "-A"], repo, env)
    sh(["git", "commit", "-qm", "mini x smoke reproduced"], repo, env)
    return repo, env


def _run(snippet: Snippet, workspace: tuple[Path, dict[str, str]], tmp_path: Path) -> str:
    repo, env = workspace
    copy = tmp_path / "p" / "project"  # the committed DVC remote lands in tmp_path/p
    shutil.copytree(repo, copy, symlinks=True)
    cmd = (
        ["bash", "-euo", "pipefail", "-c", snippet.code]
        if RUN[snippet.lang] == "bash"
        else [sys.executable, "-c", snippet.code]
    )
    proc = subprocess.run(cmd, cwd=copy, env=env, capture_output=True, text=True, timeout=900)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"{snippet.name} failed ({proc.returncode}):\n{out[-4000:]}"
    return proc.stdout


@pytest.mark.e2e
@pytest.mark.parametrize("snippet", RUNNABLE, ids=[s.name for s in RUNNABLE])
def test_snippet_runs(snippet: Snippet, workspace, tmp_path: Path) -> None:
    out = _run(snippet, workspace, tmp_path)
    if snippet.width is not None:
        wide = [line for line in out.splitlines() if len(line) > snippet.width]
        assert not wide, f"{snippet.name}: wider than {snippet.width} columns:\n" + "\n".join(wide)


@pytest.mark.e2e
def test_exp_show_recipe_fits_120_columns_on_two_archs(workspace, tmp_path: Path) -> None:
    """The recipe on the default grid's shape: two archs' metrics (the mini grid has one)."""
    (recipe,) = [s for s in ALL if s.width is not None and "dvc exp show" in s.code]
    repo, env = workspace
    copy = tmp_path / "two-archs"
    shutil.copytree(repo, copy, symlinks=True)
    for path in (copy / "reports" / "metrics").glob("*-lenet300-*.json"):
        shutil.copy2(path, path.with_name(path.name.replace("lenet300", "lenet5")))
    sh(["git", "add", "-A"], copy, env)
    sh(["git", "commit", "-qm", "two archs"], copy, env)
    proc = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", recipe.code],
        cwd=copy,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    header = lines[0].split()
    assert {"lenet300-switcher", "lenet5-switcher", "lenet5-magnitude", "profile"} <= set(header)
    assert any(line.split()[0] == "workspace" for line in lines[1:]), proc.stdout
    assert max(map(len, lines)) <= 120, proc.stdout


@pytest.mark.e2e
def test_dry_run_names_only_what_the_experiment_adds(workspace, tmp_path: Path) -> None:
    """`weightswitch dry-run` where `dvc exp run --dry` fails (DVC 3.67): on the reproduced
    seed 0, `seeds=[0,1]` skips every seed-0 stage and would run the seed-1 ones."""
    repo, env = workspace
    copy = tmp_path / "p" / "project"
    shutil.copytree(repo, copy, symlinks=True)
    out = sh(["weightswitch", "dry-run", "-S", "seeds=[0,1]"], copy, env)
    would = set(re.findall(r"Running stage '([^']+)'", out))
    skipped = set(re.findall(r"Stage '([^']+)' didn't change", out))
    assert would and all(s.endswith("-1") for s in would - {"report"}), out
    assert "report" in would and "fetch@fashion_mnist" in skipped, out
    assert {s.replace("-0", "-1", 1) for s in skipped if s.startswith("train@")} <= would
    assert not (copy / "results" / "runs" / "smoke" / "fashion_mnist-lenet300-dense-s1").exists()


@pytest.mark.e2e
def test_adopt_runs_takes_only_the_runs_this_code_would_train(workspace, tmp_path: Path) -> None:
    """scripts/adopt_runs.py (how a long study's runs enter DVC at a later commit): on the
    reproduced workspace every training stage's run matches this code's identity; after a
    change of recipe, every run is of other inputs and nothing is adopted (exit 1)."""
    repo, env = workspace
    copy = tmp_path / "p" / "project"
    shutil.copytree(repo, copy, symlinks=True)
    script = [sys.executable, str(PROJECT / "scripts" / "adopt_runs.py")]

    def adopt() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            script, cwd=copy, env=env, capture_output=True, text=True, timeout=600
        )

    ok = adopt()
    assert ok.returncode == 0, ok.stdout + ok.stderr
    (n,) = set(re.findall(r"checked (\d+) of \1 training stages; 0 not adoptable", ok.stdout))
    assert int(n) >= 10, ok.stdout
    sh(
        ["weightswitch", "params", "--grid", "mini", "--profile", "smoke", "recipe.epochs=3"],
        copy,
        env,
    )
    other = adopt()
    assert other.returncode == 1, other.stdout + other.stderr
    assert f"checked {n} of {n} training stages; {n} not adoptable" in other.stdout, other.stdout
    assert "finished run of other inputs" in other.stdout, other.stdout


@pytest.mark.e2e
def test_mlflow_query_keeps_frontier_points_apart_from_matched_runs(
    workspace, tmp_path: Path
) -> None:
    """docs/dvc-mlflow.md's query on the reproduced pipeline: a method's frontier point (a
    fixed target sparsity) and its matched run are two rows, grouped by kind."""
    (query,) = [s for s in ALL if s.lang == "python" and "mlflow.search_runs" in s.code]
    out = _run(query, workspace, tmp_path)
    rows = [line.split()[:4] for line in out.splitlines()]  # arch, kind, method, target
    assert ["lenet300", "prune", "magnitude", "-"] in rows, out  # matched to the switcher run
    assert ["lenet300", "prune", "magnitude", "0.9"] in rows, out  # the frontier point
    assert ["lenet300", "switcher", "switcher", "-"] in rows, out
