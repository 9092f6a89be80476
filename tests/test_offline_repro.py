"""Offline start: `fetch` finds a known local copy by itself and says in one line which one;
without any, its one-line error names the package or folder that fixes it.

The "known local copy" is Debian's dataset-fashion-mnist in /usr/share/datasets/fashion-mnist,
i.e. `<data dir>/datasets/fashion-mnist` for each folder of $XDG_DATA_DIRS: the tests point
XDG_DATA_DIRS at a temporary folder holding fake archives, so they run on any machine.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torchvision.datasets as tvd

import fakedata
from weightswitch.cli import main
from weightswitch.data import read_manifest

PROJECT = Path(__file__).resolve().parents[1]
DEBIAN = Path("/usr/share/datasets/fashion-mnist")


def _debian_like(tmp_path: Path) -> tuple[Path, Path]:
    """A data dir holding `datasets/fashion-mnist/` (fake archives) and the checksums file."""
    share = tmp_path / "share"
    sums = fakedata.write_dataset("fashion_mnist", share / "datasets" / "fashion-mnist")
    checks = fakedata.write_checksums_json(tmp_path / "sums.json", {"fashion_mnist": sums})
    return share, checks


def _fetch(name: str, root: Path) -> int:
    return main(["fetch", name, "--root", str(root), "--val-size", "50"])


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """No mirror setting; the download goes to a closed local port (fails at once)."""
    monkeypatch.delenv("WEIGHTSWITCH_MIRROR", raising=False)
    monkeypatch.setenv("XDG_DATA_DIRS", str(tmp_path / "no-share"))
    for cls in (tvd.MNIST, tvd.FashionMNIST):
        monkeypatch.setattr(cls, "mirrors", ["http://127.0.0.1:9/"])


def test_known_local_copy_is_found_and_named_in_one_line(offline, tmp_path, monkeypatch, capsys):
    share, checks = _debian_like(tmp_path)
    monkeypatch.setenv("XDG_DATA_DIRS", f"{tmp_path / 'elsewhere'}:{share}")
    monkeypatch.setenv("WEIGHTSWITCH_CHECKSUMS", str(checks))
    assert (
        main(["fetch", "fashion_mnist", "--root", str(tmp_path / "data"), "--val-size", "50"]) == 0
    )
    err = capsys.readouterr().err
    used = [line for line in err.splitlines() if ": mirror " in line]
    assert len(used) == 1, err
    assert f"{share}/datasets/fashion-mnist (Debian package dataset-fashion-mnist)" in used[0]
    assert read_manifest(tmp_path / "data", "fashion_mnist")["counts"]["val"] == 50


def test_mirror_env_folders_come_first_and_a_wrong_one_is_passed_over(
    offline, tmp_path, monkeypatch, capsys
):
    """WEIGHTSWITCH_MIRROR may list folders (':'); one holding nothing of the dataset is
    skipped, one holding another dataset's files of the same names (MNIST beside
    Fashion-MNIST) fails verification and the next copy is used."""
    share, checks = _debian_like(tmp_path)
    fakedata.write_dataset("mnist", tmp_path / "flat-mnist")  # same file names, other bytes
    (tmp_path / "empty").mkdir()
    monkeypatch.setenv("WEIGHTSWITCH_MIRROR", f"{tmp_path / 'empty'}:{tmp_path / 'flat-mnist'}")
    monkeypatch.setenv("XDG_DATA_DIRS", str(share))
    monkeypatch.setenv("WEIGHTSWITCH_CHECKSUMS", str(checks))
    assert (
        main(["fetch", "fashion_mnist", "--root", str(tmp_path / "data"), "--val-size", "50"]) == 0
    )
    err = capsys.readouterr().err
    used = [line.split(": mirror ")[1] for line in err.splitlines() if ": mirror " in line]
    assert used[0].startswith(f"{tmp_path / 'flat-mnist'} (WEIGHTSWITCH_MIRROR)"), err
    assert used[-1].startswith(f"{share}/datasets/fashion-mnist (Debian package"), err
    assert "not fashion_mnist's archives" in err


@pytest.mark.parametrize(
    ("name", "fix"),
    [
        ("fashion_mnist", "apt-get install dataset-fashion-mnist"),
        ("mnist", "set WEIGHTSWITCH_MIRROR (or pass --mirror) to a folder holding"),
    ],
)
def test_without_a_local_copy_the_error_names_the_fix(offline, tmp_path, capsys, name, fix):
    assert main(["fetch", name, "--root", str(tmp_path / "data")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert f"no local copy (looked in: {tmp_path / 'no-share'}" in "\n".join(err) or name == "mnist"
    assert err[-1].startswith(f"weightswitch fetch: error: could not download {name} (")
    assert fix in err[-1] and "train-images-idx3-ubyte.gz" in err[-1]
    assert "http" not in err[-1]  # the cause, not the URLs torchvision tried


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "WEIGHTSWITCH_"))}
    env.update(
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
        DVC_NO_ANALYTICS="1",
        **extra,
    )
    return env


def test_repro_fetch_stage_uses_the_known_copy_without_any_setting(tmp_path: Path) -> None:
    """`make repro`'s first stage on a machine that only has the package installed: no
    WEIGHTSWITCH_MIRROR, the stage finds the copy and says which."""
    share, checks = _debian_like(tmp_path)
    env = _env(tmp_path, XDG_DATA_DIRS=str(share), WEIGHTSWITCH_CHECKSUMS=str(checks))
    repo = tmp_path / "project"
    repo.mkdir()
    for name in ("dvc.yaml", ".gitignore", ".dvcignore"):
        shutil.copy2(PROJECT / name, repo / name)
    shutil.copytree(PROJECT / "conf", repo / "conf")
    shutil.copytree(PROJECT / "src", repo / "src", ignore=shutil.ignore_patterns("__pycache__"))

    def run(*cmd: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(cmd, cwd=repo, env=env, capture_output=True, text=True, timeout=300)

    assert run("git", "init", "-q").returncode == 0
    assert run("dvc", "init", "-q").returncode == 0
    assert run("weightswitch", "params", "--grid", "mini", "--profile", "smoke").returncode == 0
    proc = run("dvc", "repro", "fetch@fashion_mnist")
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert (
        len(re.findall(r"fetch fashion_mnist: mirror .*datasets/fashion-mnist \(Debian", out)) == 1
    )


@pytest.mark.skipif(not DEBIAN.is_dir(), reason="Debian's dataset-fashion-mnist is not installed")
def test_the_real_debian_copy_is_found(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.delenv("WEIGHTSWITCH_MIRROR", raising=False)
    monkeypatch.delenv("XDG_DATA_DIRS", raising=False)
    monkeypatch.delenv("WEIGHTSWITCH_CHECKSUMS", raising=False)
    assert main(["fetch", "fashion_mnist", "--root", str(tmp_path)]) == 0
    assert f"mirror {DEBIAN} (Debian package dataset-fashion-mnist)" in capsys.readouterr().err
    assert read_manifest(tmp_path, "fashion_mnist")["counts"]["test"] == 10_000
