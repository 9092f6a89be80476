"""Issue 38: no file a user is handed runs code, and a parent is the run it claims to be.

A planted pickle (it would create a marker file when unpickled) is given to every command that
reads a checkpoint or tensor file: `bench export --checkpoint`, `train --init-from`, a resume
from a checkpoint folder, and the report's gate reader. None may create the marker. A parent
folder whose checkpoint.pt comes from another run is refused in one line, and a damaged parent
checkpoint gets advice that works for a parent (retrain or restore), not "pass --force"."""

from __future__ import annotations

import hashlib
import io
import re
import shutil
from pathlib import Path

import pytest
import torch

from test_integrity import train_cli
from weightswitch import checkpoint
from weightswitch.cli import main

PROJECT = Path(__file__).resolve().parents[1]


class Planted:
    """Unpickling this calls open(marker, "w"): proof that code ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def plant(path: Path, marker: Path, header: bool) -> None:
    """A torch file whose unpickling would create `marker`; with `header`, in the checkpoint
    format with a VALID checksum, so that only weights_only stands between it and the code."""
    buf = io.BytesIO()
    torch.save({"config": {}, "model": Planted(marker), "identity": None}, buf)
    payload = buf.getvalue()
    head = checkpoint.MAGIC + hashlib.sha256(payload).hexdigest().encode() + b"\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes((head if header else b"") + payload)


def prune_from(root: Path, parent: Path, out: Path) -> int:
    """Prune `parent` to 50% into `out` (the child every parent test asks for)."""
    return train_cli(root, out, "magnitude", "--sparsity", "0.5", "--init-from", str(parent))


@pytest.fixture(scope="module")
def dense_runs(prepared_root: Path, tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    base = tmp_path_factory.mktemp("trusted")
    runs = [base / f"dense-s{seed}" for seed in (0, 1)]
    for seed, run in enumerate(runs):
        assert train_cli(prepared_root, run, "dense", "--seed", str(seed)) == 0
    return runs


def test_no_bare_torch_load_in_the_code() -> None:
    """Only weightswitch/tensorfile.py unpickles, and always with weights_only=True."""
    offenders = []
    for folder in ("src", "studies"):
        for path in (PROJECT / folder).rglob("*.py"):
            if path.name == "tensorfile.py":
                continue
            for n, line in enumerate(path.read_text().splitlines(), 1):
                if re.search(
                    r"\btorch\.(serialization\.)?load\b|from torch import .*\bload\b", line
                ):
                    offenders.append(f"{path.relative_to(PROJECT)}:{n}")
    assert not offenders, f"read torch files through weightswitch.tensorfile: {offenders}"
    text = (PROJECT / "src" / "weightswitch" / "tensorfile.py").read_text()
    assert text.count("torch.load(") == 1 and "weights_only=True" in text


@pytest.mark.parametrize("header", [True, False], ids=["checksummed", "raw"])
def test_a_planted_pickle_runs_nothing_anywhere(
    prepared_root: Path,
    dense_runs: list[Path],
    tmp_path: Path,
    header: bool,
    capsys: pytest.CaptureFixture[str],
) -> None:
    marker = tmp_path / "PWNED"
    # bench export --checkpoint
    evil = tmp_path / "evil.pt"
    plant(evil, marker, header)
    assert main(["bench", "export", "--checkpoint", str(evil), "--threads", "1"]) != 0
    # train --init-from a parent whose checkpoint.pt is planted
    parent = tmp_path / "parent"
    shutil.copytree(dense_runs[0], parent)
    plant(parent / "checkpoint.pt", marker, header)
    assert prune_from(prepared_root, parent, tmp_path / "child") != 0
    # a resume from a planted checkpoint folder
    ckpts = tmp_path / "ckpts"
    plant(ckpts / "checkpoint.pt", marker, header)
    train_cli(prepared_root, tmp_path / "resumed", "dense", "--checkpoint-dir", str(ckpts))
    # the report's gate reader
    from weightswitch.report.gates import load_gates

    plant(tmp_path / "gated" / "gates.pt", marker, header)
    with pytest.raises(Exception):  # noqa: B017 - any refusal will do, as long as nothing ran
        load_gates(tmp_path / "gated")
    assert not marker.exists(), "a planted pickle ran code"
    err = capsys.readouterr().err
    assert "Traceback" not in err


def test_a_parent_whose_checkpoint_is_another_runs_is_refused(
    prepared_root: Path,
    dense_runs: list[Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    parent = tmp_path / "parent"
    shutil.copytree(dense_runs[0], parent)
    shutil.copy(dense_runs[1] / "checkpoint.pt", parent / "checkpoint.pt")  # seed 1's weights
    code = prune_from(prepared_root, parent, tmp_path / "child")
    err = capsys.readouterr().err.strip()
    assert code != 0 and not (tmp_path / "child" / "metrics.json").exists()
    assert "belongs to another run than its metrics.json" in err and len(err.splitlines()) == 1
    assert "retrain the parent" in err


def test_a_damaged_parent_gets_advice_that_works(
    prepared_root: Path,
    dense_runs: list[Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    parent = tmp_path / "parent"
    shutil.copytree(dense_runs[0], parent)
    raw = bytearray((parent / "checkpoint.pt").read_bytes())
    raw[-10] ^= 0xFF
    (parent / "checkpoint.pt").write_bytes(bytes(raw))
    code = prune_from(prepared_root, parent, tmp_path / "child")
    err = capsys.readouterr().err.strip()
    assert code != 0 and "is damaged" in err and len(err.splitlines()) == 1
    assert "retrain the parent" in err and "--force" not in err.split("retrain")[0]


def test_a_genuine_parent_is_pruned(
    prepared_root: Path, dense_runs: list[Path], tmp_path: Path
) -> None:
    assert prune_from(prepared_root, dense_runs[0], tmp_path / "child") == 0
    assert (tmp_path / "child" / "metrics.json").exists()
