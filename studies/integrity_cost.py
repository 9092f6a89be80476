"""What run integrity costs at the start of a run, against one training epoch (issue 14).

Measured in one process, on prepared real data:
- `verify (stat record)`: the check `load_split` does on every run start for train, val and
  test: the files' size, mtime, ctime and inode match the record written when they were last
  hashed, so nothing is read;
- `verify (full sha256)`: the first check after the files were touched or restored (e.g. by
  `dvc checkout`): every split is hashed once (then recorded);
- `identity + lock`: reading the manifest into the run's identity, taking and releasing the
  run directory's lock;
- one epoch of the real training loop (`train_epoch`, LeNet-5 dense, batch 64) over the
  whole training split, timed over `--batches` steps after a warm-up and scaled to the
  epoch's number of batches.

    python studies/integrity_cost.py --root data --dataset fashion_mnist
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import torch


def _median_seconds(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default="data")
    parser.add_argument("--dataset", default="fashion_mnist")
    parser.add_argument("--arch", default="lenet5")
    parser.add_argument("--batches", type=int, default=100, help="timed steps (0: all)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    from weightswitch.bench.train import _state, time_ours
    from weightswitch.config import build_config
    from weightswitch.data import BatchIterator, get_spec, load_split
    from weightswitch.data.checksums import file_digest
    from weightswitch.data.manifest import SPLITS
    from weightswitch.data.splits import split_path, verify_split
    from weightswitch.rundir import RunDir, identity_of

    root, name = args.root, args.dataset
    verify_split(root, name, "train")  # make sure the stat record is current
    warm = _median_seconds(lambda: [verify_split(root, name, s) for s in SPLITS], args.repeats)
    paths = [split_path(root, name, s) for s in SPLITS]
    cold = _median_seconds(lambda: [file_digest(p) for p in paths], args.repeats)
    size_mb = sum(p.stat().st_size for p in paths) / 1e6

    cfg = build_config(args.arch, name, "dense", {"data": {"root": root}}, {"tracking": False})
    with tempfile.TemporaryDirectory() as tmp:
        cfg.out = tmp

        def identity_and_lock() -> None:
            run = RunDir(Path(tmp) / "run")
            identity_of(cfg)
            with run.locked():
                pass

        start_cost = _median_seconds(identity_and_lock, args.repeats)

    spec = get_spec(name)
    images, labels = load_split(root, name, "train")
    ns = argparse.Namespace(lr=0.1, batch_size=64, params="", dataset=name, seed=0)
    state, method = _state(args.arch, "dense", ns, torch.device("cpu"))
    batches = BatchIterator(
        images, labels, spec, 64, shuffle=True, augment=True, device=state.device, seed=0
    )
    steps = args.batches or len(batches) - 3
    epoch = time_ours(state, method, batches, 0, steps) * len(batches)

    result = {
        "dataset": name,
        "splits_mb": round(size_mb, 1),
        "verify_stat_record_s": warm,
        "verify_full_sha256_s": cold,
        "identity_and_lock_s": start_cost,
        f"{args.arch}_epoch_s": epoch,
        "epoch_batches": len(batches),
        "timed_batches": steps,
        "threads": torch.get_num_threads(),
        "ratio_start_checks_warm": (warm + start_cost) / epoch,
        "ratio_start_checks_cold": (cold + start_cost) / epoch,
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
