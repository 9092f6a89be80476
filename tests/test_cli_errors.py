"""What a mistyped command line gets: the sub-command, the bad option or key, the closest
valid one, in at most 3 lines; `train --profile` and `--set` mean what they say."""

from __future__ import annotations

import errno
import json
import os
import shutil
import tempfile
from pathlib import Path

import pytest
import yaml

from weightswitch.cli import main

PROJECT = Path(__file__).resolve().parents[1]
RUN = ["--arch", "lenet300", "--dataset", "fashion_mnist", "--method", "dense"]


def _exit(argv: list[str], capsys: pytest.CaptureFixture[str]) -> list[str]:
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    return capsys.readouterr().err.strip().splitlines()


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["train", "--sed", "1"], ["weightswitch train: error:", "--sed", "did you mean --seed?"]),
        ([*["train", *RUN], "--sed", "1"], ["weightswitch train: error:", "--sed 1", "--seed?"]),
        ([*["train", *RUN], "--epochs", "1.5"], ["weightswitch train: error:", "--epochs", "1.5"]),
        (["fetch", "mnist", "--mirorr", "x"], ["weightswitch fetch: error:", "--mirror?"]),
        (["params", "--grdi", "mini"], ["weightswitch params: error:", "--grid?"]),
        (["bench", "data", "--sed", "1"], ["weightswitch bench data: error:", "--seed?"]),
        (["trian"], ["weightswitch: error:", "'trian'"]),
    ],
)
def test_argparse_errors_are_short_and_name_the_subcommand(argv, says, capsys) -> None:
    err = _exit(argv, capsys)
    assert 1 <= len(err) <= 3, err
    assert all(word in err[0] for word in says), err
    assert not any(line.startswith("usage:") for line in err)


def _one_line_error(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


@pytest.fixture
def conf(tmp_path: Path) -> Path:
    shutil.copytree(PROJECT / "conf", tmp_path / "conf")
    return tmp_path / "conf"


def test_params_suggests_the_closest_key(conf: Path, tmp_path: Path, capsys) -> None:
    out = str(tmp_path / "p.yaml")
    base = ["params", "--conf", str(conf), "--out", out]
    err = _one_line_error([*base, "recipe.epoch=3"], capsys)
    assert "unknown key 'recipe.epoch'; did you mean 'recipe.epochs'?" in err
    err = _one_line_error([*base, "recipes.epochs=3"], capsys)
    assert "did you mean 'recipe.epochs'?" in err
    # a valid key the profile does not set is added (Hydra needs '+' for it), null unsets
    assert (
        main([*base, "--profile", "quick", "recipe.eval_batch_size=500", "recipe.train_limit=null"])
        == 0
    )
    recipe = yaml.safe_load(Path(out).read_text())["recipe"]
    assert recipe["eval_batch_size"] == 500 and recipe["train_limit"] is None


def _config(argv: list[str], capsys: pytest.CaptureFixture[str]) -> dict:
    assert main(["train", *RUN, "--print-config", *argv]) == 0
    return json.loads(capsys.readouterr().out)


def test_train_set_takes_the_params_keys_and_null_unsets(tmp_path: Path, capsys) -> None:
    params = yaml.safe_load((PROJECT / "params.yaml").read_text())
    params["recipe"]["train_limit"] = 100
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(params))
    given = ["--params", str(path)]
    assert _config(given, capsys)["train_limit"] == 100
    assert _config([*given, "--set", "recipe.train_limit=null"], capsys)["train_limit"] is None
    assert _config([*given, "--set", "train_limit=null"], capsys)["train_limit"] is None
    assert _config([*given, "--set", "recipe.epochs=3"], capsys)["epochs"] == 3
    cfg = _config([*given, "--set", "methods.dense.batch_size=7"], capsys)
    assert cfg["batch_size"] == 7
    err = _one_line_error(["train", *RUN, *given, "--set", "recipe.epoch=3"], capsys)
    assert "did you mean 'recipe.epochs'?" in err
    err = _one_line_error(["train", *RUN, *given, "--set", "epoch=3"], capsys)
    assert "did you mean 'epochs'?" in err
    err = _one_line_error(["train", *RUN, *given, "--set", "epochs=null"], capsys)
    assert "epochs must be an integer" in err


def test_train_profile_trains_that_profiles_recipe(tmp_path: Path, capsys) -> None:
    cpu = yaml.safe_load((PROJECT / "conf" / "profile" / "cpu.yaml").read_text())["recipe"]
    cfg = _config(["--profile", "cpu"], capsys)
    assert cfg["profile"] == "cpu" and cfg["epochs"] == cpu["epochs"]
    assert cfg["train_limit"] == cpu["train_limit"] is None  # not quick's 6,000 images
    assert cfg["schedule"]["milestones"] == cpu["schedule"]["milestones"]
    assert cfg["out"].startswith("results/runs/cpu/")
    # with a params file of another profile: refused, with the command that switches
    path = tmp_path / "params.yaml"
    shutil.copy2(PROJECT / "params.yaml", path)
    other = yaml.safe_load(path.read_text())["profile"]
    want = "paper" if other != "paper" else "cpu"
    err = _one_line_error(["train", *RUN, "--params", str(path), "--profile", want], capsys)
    assert f"weightswitch params --profile {want}" in err and f"({other})" in err


def test_plots_on_a_pair_that_has_not_run_says_so(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text("grid: mini\nprofile: smoke\n")
    (tmp_path / "reports" / "fashion" / "quick" / "tables").mkdir(parents=True)
    (tmp_path / "reports" / "fashion" / "quick" / "tables" / "runs.csv").write_text("x\n")
    assert main(["plots", "--json"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "mini x smoke has not run" in err[0], err
    assert "dvc repro" in err[0] and "fashion x quick" in err[0]


def test_report_never_writes_over_the_index_of_reports(tmp_path, monkeypatch, capsys) -> None:
    """Issue 38: a bare `weightswitch report` used to write into reports/ itself, replacing
    the index of every report; now it needs a folder of its own."""
    from weightswitch.cli import main

    (tmp_path / "dvc.yaml").write_text("stages: {}\n")
    (tmp_path / "reports").mkdir()
    (tmp_path / "reports" / "README.md").write_text("the index\n")
    monkeypatch.chdir(tmp_path)
    for extra in ([], ["--out", "reports"], ["--out", "./reports/"]):
        assert main(["report", "--results", "results/runs", *extra]) != 0
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and "reports/<grid>/<profile>" in err, err
    assert (tmp_path / "reports" / "README.md").read_text() == "the index\n"
    # with a workspace params.yaml, a bare report goes to that pair's own folder
    (tmp_path / "params.yaml").write_text("grid: g\nprofile: p\n")
    from weightswitch.report import cli as report_cli

    assert report_cli._out(None, None, None) == (Path("reports/g/p"), "g", "p")


def test_every_command_and_bench_target_imports() -> None:
    """A typo in COMMANDS or TARGETS used to be swallowed as 'not written yet'."""
    import importlib

    from weightswitch.bench.cli import TARGETS
    from weightswitch.cli import COMMANDS

    for name in [*COMMANDS, *(f"weightswitch.bench.{t}" for t in TARGETS)]:
        importlib.import_module(name)


def test_a_yaml_error_names_its_line_and_column(tmp_path) -> None:
    """Issue 38: a YAML error used to lose its position."""
    from weightswitch.config import load_params
    from weightswitch.errors import UsageError

    path = tmp_path / "params.yaml"
    path.write_text("recipe:\n  epochs: 2\n  lr: [0.1\n")
    with pytest.raises(UsageError) as info:
        load_params(path)
    text = str(info.value)
    assert "\n" not in text and "line 4, column 1" in text, text


# --------------------------------------------- operating-system errors: one line, the path

TINY = ["--set", "model.hidden=[32,16]", "--device", "cpu", "--no-mlflow", "--epochs", "1"]


def _os_error(argv: list[str], path: Path, capsys: pytest.CaptureFixture[str]) -> str:
    """The one line an OSError on `path` gets: the error, the path, what to do."""
    assert main(argv) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Traceback" not in err[0], err
    assert str(path) in err[0] and err[0].endswith(")"), err
    return err[0]


@pytest.fixture(scope="module")
def finished(prepared_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A results root with one finished run, for `report`."""
    results = tmp_path_factory.mktemp("results")
    run = results / "test" / "mnist-lenet300-dense-s0"
    argv = ["--arch", "lenet300", "--dataset", "mnist", "--method", "dense", "--profile", "test"]
    assert main(["train", *argv, *TINY, "--root", str(prepared_root), "--out", str(run)]) == 0
    return results


def test_a_path_under_a_file_is_one_line(prepared_root, finished, tmp_path, capsys) -> None:
    """Issue 39: `fetch` and `report` onto a path that is a file printed 17-37 line tracebacks."""
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    root = blocker / "data"
    line = _os_error(["fetch", "mnist", "--root", str(root)], blocker, capsys)
    assert line.startswith("weightswitch fetch: error: Not a directory") and "a file" in line
    out = blocker / "report"
    line = _os_error(["report", "--results", str(finished), "--out", str(out)], blocker, capsys)
    assert line.startswith("weightswitch report: error: Not a directory"), line


def test_a_read_only_folder_is_one_line(finished, tmp_path, monkeypatch, capsys) -> None:
    """Issue 39: `report` onto a read-only folder printed a traceback."""
    if os.geteuid() == 0:  # root writes into it anyway: refuse as the kernel would

        def refuse(prefix: str, suffix: str, dir: str) -> None:
            name = os.path.join(dir, f"{prefix}x{suffix}")  # the temporary file's name
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), name)

        monkeypatch.setattr(tempfile, "mkstemp", refuse)
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        argv = ["report", "--results", str(finished), "--out", str(locked / "report")]
        line = _os_error(argv, locked / "report", capsys)
        assert "Permission denied" in line and "writable" in line, line
    finally:
        locked.chmod(0o755)


def test_a_full_disk_names_the_file(prepared_root, finished, tmp_path, monkeypatch, capsys) -> None:
    """Issue 39: a write on a full disk names no file (the error comes from write or fsync);
    the writers name the file they were writing."""

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)
    out = tmp_path / "report"
    line = _os_error(["report", "--results", str(finished), "--out", str(out)], out, capsys)
    assert "No space left on device" in line and "free space" in line, line
    assert not list(out.rglob("*.tmp")), "a temporary file was left behind"
    run = tmp_path / "run"
    argv = ["train", "--arch", "lenet300", "--dataset", "mnist", "--method", "dense", *TINY]
    argv += ["--profile", "test", "--root", str(prepared_root), "--out", str(run)]
    line = _os_error(argv, run, capsys)
    assert not run.exists(), "a run folder was left behind"
    assert line.startswith("weightswitch train: error: No space left on device:"), line
