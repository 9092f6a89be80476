"""Shared fixtures: fake upstream archives and a data root prepared from them by `fetch`.

Tests run with one intra-op thread (override: WEIGHTSWITCH_TEST_THREADS): the workloads are
tiny, so threads add overhead rather than speed, results stay identical on any machine, and
the suite does not fight other processes for the cores.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

import fakedata

torch.set_num_threads(int(os.environ.get("WEIGHTSWITCH_TEST_THREADS", "1")))

VAL_SIZE = 100  # of fakedata.TRAIN_SIZE training images -> 400 train, 100 val, 100 test


@dataclass(frozen=True)
class FakeMirror:
    """A mirror folder (`path/NAME/<upstream files>`) and the checksums that trust it."""

    path: Path
    checksums_file: Path  # for WEIGHTSWITCH_CHECKSUMS
    checksums: dict[str, dict[str, str]]  # {dataset: {file name: md5}}


@pytest.fixture(scope="session")
def fake_mirror(tmp_path_factory: pytest.TempPathFactory) -> FakeMirror:
    """All four datasets as fake upstream archives (500 train / 100 test images each)."""
    base = tmp_path_factory.mktemp("fake-mirror")
    checksums = fakedata.write_mirror(base / "mirror")
    checksums_file = fakedata.write_checksums_json(base / "checksums.json", checksums)
    return FakeMirror(base / "mirror", checksums_file, checksums)


@pytest.fixture
def fake_mirror_env(fake_mirror: FakeMirror, monkeypatch: pytest.MonkeyPatch) -> FakeMirror:
    """`fake_mirror`, with WEIGHTSWITCH_MIRROR / WEIGHTSWITCH_CHECKSUMS set for CLI runs."""
    monkeypatch.setenv("WEIGHTSWITCH_MIRROR", str(fake_mirror.path))
    monkeypatch.setenv("WEIGHTSWITCH_CHECKSUMS", str(fake_mirror.checksums_file))
    return fake_mirror


@pytest.fixture(scope="session")
def prepared_root(fake_mirror: FakeMirror, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data root with all four fake datasets prepared by the real `fetch` code.

    `ROOT/NAME/{train,val,test}.pt` hold 400 / 100 / 100 images (`VAL_SIZE` = 100).
    Treat it as read-only: it is shared by the whole session.
    """
    from weightswitch.data.checksums import load_extra_checksums
    from weightswitch.data.fetch import fetch

    root = tmp_path_factory.mktemp("prepared")
    extra = load_extra_checksums(fake_mirror.checksums_file)
    for name in fakedata.DATASET_NAMES:
        fetch(
            name,
            root,
            mirror=fake_mirror.path,
            val_size=VAL_SIZE,
            extra_checksums=extra,
            log=lambda msg: None,
        )
    return root
