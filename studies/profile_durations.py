"""How long a grid x profile takes on this machine: the real `dvc repro`, on full-size data.

Datasets that cannot be downloaded here are replaced by synthetic archives of the *real sizes*
in the upstream formats (tests/fakedata.py), so compute and I/O match a real run; accuracies of
synthetic datasets are meaningless and are not printed. A real mirror folder can be given for
the datasets it has (e.g. Debian's Fashion-MNIST).

    python studies/profile_durations.py --grid study --profile quick \
        --real fashion_mnist=/usr/share/datasets/fashion-mnist
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT / "tests"))
import fakedata  # noqa: E402  (the test suite's upstream-format writers)

FULL_SIZE = {
    "mnist": (60000, 10000),
    "fashion_mnist": (60000, 10000),
    "cifar10": (50000, 10000),
    "cifar100": (50000, 10000),
}


# outputs and caches of the checkout, as paths relative to the project root
SKIP = {
    ".venv",
    "data",
    "results",
    "reports",
    "mlflow.db",
    "mlartifacts",
    "dvc_plots",
    ".dvc/cache",
    ".dvc/tmp",
}


def _ignore(folder: str, names: list[str]) -> set[str]:
    """Outputs and caches of the checkout are not copied: the run starts from scratch."""
    rel = Path(folder).relative_to(PROJECT)
    return {
        n
        for n in names
        if (rel / n).as_posix() in SKIP or n == "__pycache__" or n.endswith(".egg-info")
    }


def make_mirror(datasets: list[str], real: dict[str, Path], folder: Path) -> Path:
    """Mirror folder: real files where given, full-size synthetic archives otherwise;
    returns the WEIGHTSWITCH_CHECKSUMS file trusting the synthetic ones."""
    checksums = {}
    for name in datasets:
        if name in real:
            (folder / name).mkdir(parents=True, exist_ok=True)
            for f in Path(real[name]).iterdir():
                shutil.copy2(f, folder / name / f.name)
        else:
            train, test = FULL_SIZE[name]
            print(f"writing synthetic {name} ({train} train / {test} test)", flush=True)
            checksums[name] = fakedata.write_dataset(name, folder / name, train=train, test=test)
    return fakedata.write_checksums_json(folder.parent / "checksums.json", checksums)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--grid", default="study")
    ap.add_argument("--profile", default="quick")
    ap.add_argument("--real", action="append", default=[], metavar="DATASET=DIR")
    ap.add_argument("--keep", type=Path, help="work in this folder and keep it")
    ap.add_argument("--set", action="append", default=[], help="extra Hydra override")
    args = ap.parse_args()
    real = dict(item.split("=", 1) for item in args.real)
    work = args.keep or Path(tempfile.mkdtemp(prefix="ws-durations-"))
    repo = work / "project"
    shutil.copytree(PROJECT, repo, ignore=_ignore)
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    env = dict(os.environ, DVC_NO_ANALYTICS="1", PATH=path, PYTHONPATH=str(repo / "src"))
    run = lambda *cmd: subprocess.run(cmd, cwd=repo, env=env, check=True)  # noqa: E731
    run("weightswitch", "params", "--grid", args.grid, "--profile", args.profile, *args.set)
    params = yaml.safe_load((repo / "params.yaml").read_text())
    checksums = make_mirror(params["datasets"], real, work / "mirror")
    env.update(WEIGHTSWITCH_MIRROR=str(work / "mirror"), WEIGHTSWITCH_CHECKSUMS=str(checksums))
    start = time.perf_counter()
    run("dvc", "repro")
    total = time.perf_counter() - start
    rows = []
    for m in sorted((repo / "results" / "runs").glob("*/*/metrics.json")):
        d = json.loads(m.read_text())
        acc = f"{d['test_accuracy']:.4f}" if d["dataset"] in real else "synthetic"
        rows.append((m.parent.name, d["wall_seconds"], acc))
    print(f"\n{args.grid} x {args.profile}: dvc repro took {total / 60:.1f} min on this machine")
    for name, secs, acc in rows:
        print(f"  {name:50s} {secs:8.1f} s   test acc {acc}")
    if not args.keep:
        shutil.rmtree(work)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
