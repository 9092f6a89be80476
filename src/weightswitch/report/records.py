"""A report's run records: the small files of every run it shows, kept in git with it.

Why: a reader must be able to re-tabulate a committed number from git alone. The heavy
artifacts (checkpoints, gates.pt, exported models) live in the DVC cache and remote; each
run's small records (metrics.json with its identity, history.csv, config.json, diverged.json)
are copied into `<report>/records/`, with the SHA-256 of each heavy artifact
(artifacts.json) and the reduced gate data the figures draw (gate_histogram.csv,
gate_maps.npz). A report is ALWAYS built from its records, so `weightswitch report --rebuild
<report>` in a fresh clone writes the same bytes as the pipeline did (tests/test_rebuild.py).
"""

from __future__ import annotations

import datetime
import hashlib
import json
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from weightswitch.report.collect import RunId, collect, load_expected
from weightswitch.report.gates import GateMap, gate_maps, histogram_table
from weightswitch.run_files import CHECKPOINT, CONFIG, DIVERGED, EXPORTED, GATES, HISTORY, METRICS

RECORDS = "records"
RECORD_FILES = (METRICS, HISTORY, CONFIG, DIVERGED)
HEAVY_FILES = (CHECKPOINT, GATES, EXPORTED)
ARTIFACTS = "artifacts.json"
HIST_FILE = "gate_histogram.csv"
MAPS_FILE = "gate_maps.npz"
META_FILE = "report.json"  # the grid and the expected runs


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _run_dirs(root: Path) -> list[Path]:
    """Folders under `root` that hold a run (any record file, or only a checkpoint)."""
    found = {p.parent for name in (*RECORD_FILES, CHECKPOINT) for p in root.rglob(name)}
    return sorted(d for d in found if RECORDS not in d.relative_to(root).parts)


def _copy_runs(root: Path | None, dest: Path) -> None:
    dest.mkdir(parents=True)
    if root is None or not root.is_dir():
        return
    for run in _run_dirs(root):
        rel = run.relative_to(root)
        if len(rel.parts) == 1:  # results/runs/<profile>/<run>: keep the profile folder, the
            rel = Path(root.name) / rel  # profile of a run that has no metrics.json
        target = dest / rel
        target.mkdir(parents=True, exist_ok=True)
        for name in RECORD_FILES:
            if (run / name).is_file():
                shutil.copyfile(run / name, target / name)
        heavy = {
            n: {"sha256": _sha256(run / n), "bytes": (run / n).stat().st_size}
            for n in HEAVY_FILES
            if (run / n).is_file()
        }
        if heavy:
            (target / ARTIFACTS).write_text(json.dumps(heavy, indent=2, sort_keys=True) + "\n")


def save_gate_data(hist: pd.DataFrame, maps: list[GateMap], folder: Path) -> None:
    hist.to_csv(folder / HIST_FILE, index=False, float_format="%.9g")
    arrays: dict[str, Any] = {}
    meta = []
    for i, m in enumerate(maps):
        arrays[f"mean{i}"] = m.mean.astype(np.float16)
        arrays[f"zero{i}"] = np.packbits(m.all_zero.astype(bool), axis=None)
        meta.append(
            {
                "ident": {
                    k: (int(v) if isinstance(v, np.integer) else v) for k, v in m.ident.items()
                },
                "layer": m.layer,
                "shape": list(m.shape),
                "block": list(m.block),
                "pooled_shape": list(m.mean.shape),
                "zero_fraction": m.zero_fraction,
            }
        )
    arrays["meta"] = np.frombuffer(json.dumps(meta, sort_keys=True).encode("utf-8"), np.uint8)
    np.savez_compressed(folder / MAPS_FILE, **arrays)


def load_gate_data(folder: Path) -> tuple[pd.DataFrame, list[GateMap]]:
    """The gate histogram table and gate maps a report draws (empty if it has none)."""
    from weightswitch.report.gates import HIST_COLUMNS

    hist_path = folder / HIST_FILE
    hist = (
        pd.read_csv(hist_path)
        if hist_path.is_file() and hist_path.stat().st_size > 1
        else pd.DataFrame(columns=list(HIST_COLUMNS))
    )
    if hist.empty:
        hist = pd.DataFrame(columns=list(HIST_COLUMNS))
    maps: list[GateMap] = []
    if (folder / MAPS_FILE).is_file():
        with np.load(folder / MAPS_FILE) as data:
            meta = json.loads(bytes(data["meta"]).decode("utf-8"))
            for i, m in enumerate(meta):
                shape = tuple(m["pooled_shape"])
                zero = np.unpackbits(data[f"zero{i}"], count=int(np.prod(shape)))
                maps.append(
                    GateMap(
                        ident=m["ident"],
                        layer=m["layer"],
                        shape=tuple(m["shape"]),
                        block=tuple(m["block"]),
                        mean=data[f"mean{i}"].astype(np.float32),
                        all_zero=zero.reshape(shape).astype(bool),
                        zero_fraction=float(m["zero_fraction"]),
                    )
                )
    return hist, maps


def sync(
    results: Path,
    frontier: Path | None,
    out: Path,
    profile: str | None,
    expected: Path | None,
    grid: str | None,
    log: Callable[[str], None],
) -> Path:
    """Write `<out>/records` from the run folders (replacing the old records at once: a
    killed sync leaves the previous records intact); return its path."""
    dest = out / RECORDS
    out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{RECORDS}.", suffix=".tmp", dir=out))
    try:
        _copy_runs(results, tmp / "runs")
        if frontier is not None:
            _copy_runs(frontier, tmp / "frontier")
        col = collect(results, profile) if results.is_dir() else None
        runs = col.runs if col is not None else pd.DataFrame()
        warn: list[str] = []
        hist = histogram_table(runs, warn=warn) if not runs.empty else pd.DataFrame()
        maps = gate_maps(runs, warn=warn) if not runs.empty else []
        save_gate_data(hist, maps, tmp)
        found = sorted(set(runs["profile"])) if not runs.empty else [profile or results.name]
        wanted = (
            [] if expected is None else load_expected(expected, [profile] if profile else found)
        )
        meta = {
            "grid": grid,
            "expected": [_run_dict(r) for r in sorted(wanted)],
            "recorded": datetime.datetime.now(datetime.timezone.utc).date().isoformat(),
        }
        (tmp / META_FILE).write_text(json.dumps(meta, indent=1, sort_keys=True) + "\n")
        old = out / f".{RECORDS}.old"
        if dest.exists():
            shutil.rmtree(old, ignore_errors=True)
            dest.rename(old)
        tmp.rename(dest)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    log(f"records of {len(_run_dirs(dest / 'runs'))} run(s) in {dest}")
    return dest


def _run_dict(run: RunId) -> dict[str, Any]:
    return {
        "profile": run.profile,
        "dataset": run.dataset,
        "arch": run.arch,
        "method": run.method,
        "seed": run.seed,
    }


def read_meta(records: Path) -> dict[str, Any]:
    path = records / META_FILE
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
