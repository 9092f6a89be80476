"""Identity digests are pinned by the committed run records (OpenLTH's hashes regression).

Every record kept in git (reports/*/*/records/**/metrics.json with its config.json) holds the
identity its run was computed for. Rebuilding the RunConfig from config.json and asking the
code of today for its fingerprint and digest must give the recorded ones: a refactor of the
config (issue 39) that changed an identity would make every finished run and checkpoint of
the project look like another run, so it fails here first."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from weightswitch.config import RunConfig, from_dict
from weightswitch.rundir import Identity

PROJECT = Path(__file__).resolve().parents[1]
RECORDS = sorted(PROJECT.glob("reports/*/*/records/**/metrics.json"))


def test_there_are_records_to_pin() -> None:
    assert len(RECORDS) > 100


@pytest.mark.parametrize("report", sorted({p.relative_to(PROJECT).parts[1:3] for p in RECORDS}))
def test_the_code_recomputes_every_recorded_identity(report: tuple[str, str]) -> None:
    checked = 0
    for path in RECORDS:
        if path.relative_to(PROJECT).parts[1:3] != report:
            continue
        metrics = json.loads(path.read_text())
        recorded = metrics["identity"]
        config = json.loads((path.parent / "config.json").read_text())
        cfg = from_dict(RunConfig, config)
        assert cfg.fingerprint() == recorded["config"], path
        again = Identity(
            cfg.fingerprint(), recorded["data"], recorded["parents"], recorded["numerics"]
        )
        assert again.digest == recorded["digest"], path
        checked += 1
    assert checked
