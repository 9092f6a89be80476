"""The numerics version's guard (src/weightswitch/numerics.py): the golden runs' numbers must
match their record for today's versions. A failure here means a change altered numbers
without a version bump (bump the component, re-record), or a bump without a record."""

from __future__ import annotations

from pathlib import Path

import pytest

import golden_runs


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict:
    return golden_runs.train_all(tmp_path_factory.mktemp("golden"))


@pytest.mark.parametrize("name", list(golden_runs.RUNS))
def test_golden_run_matches_its_numerics_record(results: dict, name: str) -> None:
    result = results[name]
    recorded = golden_runs.load_records().get(name, {}).get(result["key"])
    assert recorded is not None, (
        f"no golden record of {name} for numerics {result['key']}: after a deliberate bump, "
        "run `python tests/golden_runs.py --record`"
    )
    problems = golden_runs.differences(recorded, result["numbers"])
    assert not problems, (
        f"{name}'s numbers changed under the same numerics version {result['key']} "
        f"({'; '.join(problems)}): bump the component in src/weightswitch/numerics.py and "
        "re-record, or undo the change"
    )


def test_the_guard_catches_a_change_beyond_rounding() -> None:
    numbers = {
        "train_loss": [2.3, 2.2],
        "weight_l1": 10.0,
        "fc_sparsity": 0.5,
        "val_accuracy": 0.2,
        "test_accuracy": 0.2,
    }
    assert golden_runs.differences(numbers, dict(numbers)) == []
    assert golden_runs.differences(numbers, {**numbers, "weight_l1": 10.0 * (1 + 5e-4)}) == []
    changed = {**numbers, "train_loss": [2.3, 2.21], "fc_sparsity": 0.51}
    assert len(golden_runs.differences(numbers, changed)) == 2


def test_records_file_is_committed() -> None:
    assert Path(golden_runs.RECORDS).is_file()
