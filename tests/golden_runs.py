"""Golden runs: tiny fixed trainings whose numbers are recorded per numerics version.

They guard the boundary of `weightswitch.numerics`: a code change that alters any of these
numbers without bumping the component it belongs to fails tests/test_golden.py. After a
deliberate bump, record the new numbers (older records stay, as history):

    python tests/golden_runs.py --record

Each run trains a LeNet-300 with 32/16 hidden units on the generated MNIST files of
tests/fakedata.py (400 training images), one thread, so it takes seconds and is the same on
any x86 CPU up to float rounding; the tolerances below absorb rounding, not code changes.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

import fakedata

RECORDS = Path(__file__).resolve().parent / "golden" / "records.json"
BASE = [
    "--arch",
    "lenet300",
    "--dataset",
    "mnist",
    "--set",
    "model.hidden=[32,16]",
    "--device",
    "cpu",
    "--no-mlflow",
    "--seed",
    "3",
    "--batch-size",
    "32",
]
# name -> (method, extra flags); `{dense}` is the dense golden run's folder
RUNS: dict[str, tuple[str, list[str]]] = {
    "dense": ("dense", ["--epochs", "3"]),
    "switcher": ("switcher", ["--epochs", "2"]),
    "switcher-noise": ("switcher-noise", ["--epochs", "2"]),
    "free-gates": ("free-gates", ["--epochs", "2"]),
    "magnitude": (
        "magnitude",
        ["--sparsity", "0.5", "--finetune-epochs", "1", "--init-from", "{dense}"],
    ),
}
# relative tolerance on losses and weight norms; absolute on rates (100 images: 0.01 each)
RTOL, SPARSITY_ATOL, ACCURACY_ATOL = 1e-3, 2e-3, 0.021


def key(method: str) -> str:
    """The record key of a golden run of `method` under today's numerics versions."""
    from weightswitch import numerics

    versions = numerics.versions(method)
    return ",".join(f"{k}={v}" for k, v in sorted(versions.items()))


def prepare(root: Path) -> Path:
    """Generated MNIST files, fetched by the real code into `root/data`."""
    from weightswitch.data.checksums import load_extra_checksums
    from weightswitch.data.fetch import fetch

    checksums = fakedata.write_mirror(root / "mirror", names=("mnist",))
    extra = load_extra_checksums(fakedata.write_checksums_json(root / "sums.json", checksums))
    fetch(
        "mnist",
        root / "data",
        mirror=root / "mirror",
        val_size=100,
        extra_checksums=extra,
        log=lambda msg: None,
    )
    return root / "data"


def measure(run: Path) -> dict[str, Any]:
    """The numbers a golden run is judged by."""
    from weightswitch import checkpoint

    metrics = json.loads((run / "metrics.json").read_text())
    state = checkpoint.load(run / "checkpoint.pt")["model"]
    norm = float(sum(t.double().abs().sum() for t in state.values() if t.is_floating_point()))
    losses = [float(r["train_loss"]) for r in metrics_history(run)]
    return {
        "train_loss": losses,
        "weight_l1": norm,
        "fc_sparsity": metrics["fc_sparsity"],
        "val_accuracy": metrics["val_accuracy"],
        "test_accuracy": metrics["test_accuracy"],
    }


def metrics_history(run: Path) -> list[dict[str, str]]:
    import csv

    with (run / "history.csv").open() as f:
        return list(csv.DictReader(f))


def train_all(workdir: Path) -> dict[str, dict[str, Any]]:
    """Train every golden run in `workdir`; {name: {"key": ..., "numbers": ...}}."""
    from weightswitch.cli import main

    torch.set_num_threads(1)
    data = prepare(workdir)
    out: dict[str, dict[str, Any]] = {}
    for name, (method, extra) in RUNS.items():
        run = workdir / name
        flags = [f.format(dense=workdir / "dense") for f in extra]
        code = main(
            ["train", *BASE, "--root", str(data), "--method", method, "--out", str(run), *flags]
        )
        if code != 0:
            raise RuntimeError(f"golden run {name} failed (exit {code})")
        out[name] = {"key": key(method), "numbers": measure(run)}
    return out


def differences(want: dict[str, Any], got: dict[str, Any]) -> list[str]:
    """What differs beyond rounding, in words ([] if the numbers agree)."""
    import math

    problems = []
    for name in ("train_loss", "weight_l1"):
        a, b = want[name], got[name]
        pairs = list(zip(a, b, strict=False)) if isinstance(a, list) else [(a, b)]
        if (isinstance(a, list) and len(a) != len(b)) or any(
            not math.isclose(x, y, rel_tol=RTOL) for x, y in pairs
        ):
            problems.append(f"{name} {a} -> {b}")
    for name, tol in (
        ("fc_sparsity", SPARSITY_ATOL),
        ("val_accuracy", ACCURACY_ATOL),
        ("test_accuracy", ACCURACY_ATOL),
    ):
        if abs(want[name] - got[name]) > tol:
            problems.append(f"{name} {want[name]} -> {got[name]}")
    return problems


def load_records() -> dict[str, dict[str, Any]]:
    return json.loads(RECORDS.read_text()) if RECORDS.exists() else {}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--record", action="store_true", help="write today's numbers for today's numerics versions"
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        results = train_all(Path(tmp))
    records = load_records()
    for name, result in results.items():
        recorded = records.get(name, {}).get(result["key"])
        status = (
            "new"
            if recorded is None
            else ("; ".join(differences(recorded, result["numbers"])) or "agrees")
        )
        print(f"{name} [{result['key']}]: {status}")
        if args.record:
            records.setdefault(name, {})[result["key"]] = result["numbers"]
    if args.record:
        RECORDS.parent.mkdir(parents=True, exist_ok=True)
        tmp_path = RECORDS.with_suffix(".tmp")
        tmp_path.write_text(json.dumps(records, indent=2, sort_keys=True) + "\n")
        tmp_path.replace(RECORDS)
        print(f"recorded {RECORDS}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
