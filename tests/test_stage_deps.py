"""DVC reruns a stage only when one of its deps changes, so every module whose code shapes a
stage's outputs must be a dep of it: a change to, say, the input normalisation must not leave
stale results that `dvc status` calls up to date. The modules that a real process of each
training stage and of the report loads are checked against dvc.yaml; the few that cannot
change a result are named here with the reason."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

PROJECT = Path(__file__).resolve().parents[1]
STAGES = ("train", "prune", "ablate", "frontier", "report")  # train first: the rest use its runs
# module -> why a change to it cannot change a run's outputs
NOT_RESULTS = {
    "weightswitch": "package marker",
    "weightswitch.cli": "argument dispatch",
    "weightswitch.bench.cli": "argument parsing of another command",
    "weightswitch.bench": "package marker",
    "weightswitch.data": "lazy re-exports",
    "weightswitch.train": "package marker",
    "weightswitch.train.cli": "argument parsing (a dep of the training stages anyway)",
    "weightswitch.data.cli": "argument parsing of another command",
    "weightswitch.data.checksums": "verifies the prepared data, which is itself a dep",
    "weightswitch.data.manifest": "reads the data's manifest (the data folder is a dep)",
    "weightswitch.report": "package marker",
    "weightswitch.report.cli": "argument parsing of another command",
    "weightswitch.params_cli": "composes params.yaml, whose keys are the stage's params deps",
    "weightswitch.errors": "exception types and messages",
    "weightswitch.atomic": "how files are written (temp file + rename), not what",
    "weightswitch.provenance": "the git commit recorded for information",
    "weightswitch.tracking": "MLflow logging, outside the stage's outputs",
    "weightswitch.rundir": "lock, resume and the identity a result is filed under; a run "
    "whose identity changes is retrained by `train` itself",
}
SCRIPT = """
import sys
from weightswitch.cli import main
root, d, stage = sys.argv[1:4]
base = ["train", "--arch", "lenet300", "--set", "model.hidden=[32,16]", "--dataset", "mnist",
        "--root", root, "--epochs", "1",
        "--train-limit", "64", "--eval-limit", "32", "--no-mlflow", "--device", "cpu"]
parents = ["--init-from", d + "/dense", "--match", d + "/switcher"]
runs = {"train": [("dense", []), ("switcher", [])],
        "prune": [("iterative", parents)],
        "ablate": [("free-gates", []), ("switcher-noise", [])],
        "frontier": [("magnitude", ["--sparsity", "0.5", "--init-from", d + "/dense"])]}
for method, extra in runs.get(stage, []):
    assert main([*base, "--method", method, "--out", f"{d}/{method}", *extra]) == 0
if stage == "report":
    assert main(["report", "--results", d, "--out", d + "/report", "--frontier", d]) == 0
print(" ".join(sorted(m for m in sys.modules if m.startswith("weightswitch"))))
"""


def module_file(name: str) -> Path:
    parts = name.split(".")
    path = PROJECT / "src" / Path(*parts)
    return (path / "__init__.py") if path.is_dir() else path.with_suffix(".py")


def test_every_module_a_stage_loads_is_a_dep_or_named_harmless(
    prepared_root: Path, tmp_path: Path
) -> None:
    stages = yaml.safe_load((PROJECT / "dvc.yaml").read_text())["stages"]
    for stage in STAGES:
        proc = subprocess.run([sys.executable, "-c", SCRIPT, str(prepared_root), str(tmp_path),
                               stage], capture_output=True, text=True, timeout=300)  # fmt: skip
        assert proc.returncode == 0, proc.stderr[-3000:]
        loaded = proc.stdout.split("\n")[-2].split()
        assert "weightswitch.config" in loaded and "weightswitch.run_files" in loaded
        deps = [PROJECT / d for d in stages[stage]["deps"] if d.startswith("src/")]
        uncovered = [
            m for m in loaded
            if m not in NOT_RESULTS
            and not any(module_file(m) == d or d in module_file(m).parents for d in deps)
        ]  # fmt: skip
        assert not uncovered, f"stage {stage!r} does not depend on {uncovered}"
