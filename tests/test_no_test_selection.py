"""Issue 37: no choice reads test accuracy. Test accuracy is measured once, at the end of a
run, and only reported; a recipe, schedule, checkpoint or threshold is chosen on validation
accuracy. Two guards: a scan of the code for a selection over test accuracy, and the
calibration benchmark, run on records whose test and validation accuracies disagree, choosing
by validation."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
SELECT = re.compile(
    r"\b(max|min|argmax|argmin|idxmax|idxmin|nlargest|nsmallest|sort_values|"
    r"sorted)\(|\bbest\b|\bchos"
)
TEST_ACC = re.compile(r"test_acc")
EXEMPT = "not a selection"  # a line that only displays (an axis limit) says so


def test_no_selection_reads_test_accuracy() -> None:
    found = []
    for folder in ("src", "studies", "scripts"):
        for path in sorted((PROJECT / folder).rglob("*.py")):
            for n, line in enumerate(path.read_text().splitlines(), 1):
                if TEST_ACC.search(line) and SELECT.search(line) and EXEMPT not in line:
                    found.append(f"{path.relative_to(PROJECT)}:{n}: {line.strip()}")
    assert not found, "a choice must read validation accuracy, not test accuracy:\n" + "\n".join(
        found
    )


def test_the_scan_catches_a_selection() -> None:
    line = 'best = runs.loc[runs["test_acc_pct"].idxmax()]'
    assert TEST_ACC.search(line) and SELECT.search(line)


def _calibration():
    spec = importlib.util.spec_from_file_location(
        "frontier_calibration", PROJECT / "studies" / "frontier_calibration.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_calibration_chooses_on_validation(tmp_path: Path, monkeypatch, capsys) -> None:
    cal = _calibration()
    parents = tmp_path / "parents"
    for seed in (0, 1):
        run = parents / f"mnist-lenet300-dense-s{seed}"
        run.mkdir(parents=True)
        (run / "metrics.json").write_text(json.dumps({"val_accuracy": 0.97, "test_accuracy": 0.97}))
    # setting A wins on test, loses on validation; B the opposite
    scores = {
        "A": {"val_accuracy": 0.90, "test_accuracy": 0.99},
        "B": {"val_accuracy": 0.95, "test_accuracy": 0.91},
    }

    def fake_run(args, name, flags, seed):
        out = tmp_path / "runs" / f"{name}-s{seed}"
        out.mkdir(parents=True, exist_ok=True)
        (out / "metrics.json").write_text(json.dumps(scores[name]))
        return out

    monkeypatch.setattr(cal, "run_one", fake_run)
    assert (
        cal.main(
            [
                "--parents",
                str(parents),
                "--root",
                str(tmp_path),
                "--out",
                str(tmp_path / "runs"),
                "--setting",
                "A=",
                "--setting",
                "B=",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "chosen (highest mean validation accuracy): B" in out
    assert "99.00" not in out and "91.00" not in out  # test accuracy is not even printed
