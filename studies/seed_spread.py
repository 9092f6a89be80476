"""How much a switcher result moves with the seed, and with floating-point rounding alone.

Trains the same switcher configuration (a grid's profile from conf/, e.g. LeNet-300-100 and
LeNet-5 on Fashion-MNIST under `quick`) for N seeds, once with 1 intra-op thread and once
with 2 (same code, data and seed: only the order of floating-point sums changes), and
reports per arch and thread count the mean, sample std and range over seeds of test accuracy
and FC sparsity, and per seed how far 2 threads land from 1 thread. README's
"bit-reproducible vs statistical" numbers come from here.

    python studies/seed_spread.py --root data --seeds 5 --threads 1 2 \
        --out results/bench/seed_spread            # ~1 h on 2 cores for quick x 2 LeNets

Every run is an ordinary run folder under --out, so a killed benchmark resumes where it
stopped (finished runs are recognised, a half-trained one resumes from its checkpoint), and
a run folder of the same configuration copied in (e.g. the grid's seed-0 run) is reused.
`--jobs 2` trains two runs at once in separate processes (each with its own thread count);
`--table-only` trains nothing and tabulates the planned runs already finished.
A table measured in pieces (run folders since deleted, other machines) is completed with
`--prior earlier/seed_spread.json`: its rows of the plan are kept, not retrained, each checked
against the planned run's identity (config + data) where the row records one; `--only SEED...`
trains just some seeds of the plan.
A run that diverges is an outcome, not a failure of the benchmark: it is counted per arch and
thread count (the run folder records it, so a resumed benchmark does not retrain it), and the
mean ± std are over the runs that finished.

Tracking is off (these runs are measurements of the method's spread, not results).
"""

from __future__ import annotations

import argparse
import concurrent.futures as futures
import json
import multiprocessing
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from weightswitch import atomic
from weightswitch.errors import WeightswitchError

PROJECT = Path(__file__).resolve().parents[1]


def compose(grid: str, profile: str, overrides: list[str], folder: Path) -> dict[str, Any]:
    from weightswitch.config import load_params
    from weightswitch.params_cli import compose_params

    out = folder / "params.yaml"
    compose_params(PROJECT / "conf", out, grid, profile, overrides)
    return load_params(out)


def run_config(
    params: dict[str, Any], args: argparse.Namespace, arch: str, seed: int, threads: int
) -> Any:
    from weightswitch.config import build_config

    out = args.out / f"threads{threads}" / f"{args.dataset}-{arch}-{args.method}-s{seed}"
    overrides = {
        "seed": seed,
        "out": str(out),
        "tracking": False,
        "data_root": str(args.root),
        "device": "cpu",
    }
    return build_config(arch, args.dataset, args.method, params, overrides)


def _row(
    arch: str,
    threads: int,
    seed: int,
    identity: str,
    metrics: dict[str, Any] | None = None,
    diverged: str | None = None,
) -> dict[str, Any]:
    """A table row: a finished run's metrics, or a divergence (no metrics). `identity` is the
    run's identity digest (config + data), so a row merged later (--prior) can be checked
    against the configuration it claims to measure."""
    row: dict[str, Any] = {
        "arch": arch,
        "threads": threads,
        "seed": seed,
        "diverged": diverged,
        "identity": identity,
    }
    if metrics is None:
        return {**row, "test_acc_pct": None, "fc_sparsity_pct": None}
    return {
        **row,
        "test_acc_pct": 100 * metrics["test_accuracy"],
        "fc_sparsity_pct": 100 * metrics["fc_sparsity"],
        "wall_seconds": metrics["wall_seconds"],
    }


def finished_row(
    params: dict[str, Any], args: argparse.Namespace, arch: str, seed: int, threads: int
) -> dict[str, Any] | None:
    """The row of a run already finished (or recorded as diverged) for exactly this
    configuration, else None: what `--table-only` collects without training anything."""
    from weightswitch.rundir import RunDir, identity_of

    cfg = run_config(params, args, arch, seed, threads)
    run, identity = RunDir(Path(cfg.out)), identity_of(cfg)
    if (record := run.divergence(identity)) is not None:
        return _row(
            arch, threads, seed, identity.digest, diverged=record.get("message", "diverged")
        )
    metrics = run.completed(identity)
    if metrics is None:
        return None
    return _row(arch, threads, seed, identity.digest, metrics)


def one_run(
    params: dict[str, Any], args: argparse.Namespace, arch: str, seed: int, threads: int
) -> dict[str, Any]:
    from weightswitch.errors import TrainingDiverged
    from weightswitch.rundir import identity_of
    from weightswitch.train.runner import train

    torch.set_num_threads(threads)
    cfg = run_config(params, args, arch, seed, threads)
    identity = identity_of(cfg).digest
    print(f"seed_spread: start {arch} seed {seed} threads {threads} -> {cfg.out}", flush=True)
    try:
        metrics = train(cfg, bar=False)
    except TrainingDiverged as exc:
        print(f"seed_spread: {arch} seed {seed} threads {threads} diverged: {exc}", flush=True)
        return _row(arch, threads, seed, identity, diverged=str(exc))
    return _row(arch, threads, seed, identity, metrics)


def spread(values: list[float]) -> str:
    """mean ± sample std (range); one value has no std, written '—' as in the report."""
    from weightswitch.report.render import DASH, fmt_stat

    if not values:
        return DASH
    std = statistics.stdev(values) if len(values) > 1 else float("nan")
    mean = fmt_stat(statistics.mean(values), std, len(values))
    return f"{mean} ({min(values):.2f}-{max(values):.2f})"


def table(rows: list[dict[str, Any]], threads: list[int]) -> str:
    """Markdown: spread over seeds per arch x threads, then thread-to-thread differences."""
    lines = [
        "| arch | threads | seeds | diverged | test acc. (%) mean ± std (range) | "
        "FC sparsity (%) mean ± std (range) |",
        "|---|---|---|---|---|---|",
    ]
    archs = sorted({r["arch"] for r in rows})
    for arch in archs:
        for t in threads:
            sel = [r for r in rows if r["arch"] == arch and r["threads"] == t]
            done = [r for r in sel if not r.get("diverged")]
            bad = sorted(r["seed"] for r in sel if r.get("diverged"))
            acc = spread([r["test_acc_pct"] for r in done])
            sp = spread([r["fc_sparsity_pct"] for r in done])
            div = f"{len(bad)} (seed {', '.join(map(str, bad))})" if bad else "0"
            lines.append(f"| {arch} | {t} | {len(sel)} | {div} | {acc} | {sp} |")
    if len(threads) > 1:
        a, b = threads[0], threads[1]
        head = (
            f"| arch | seed | test acc. {b} − {a} threads (pp) | "
            f"FC sparsity {b} − {a} threads (pp) | bit-identical |"
        )
        lines += ["", head, "|---|---|---|---|---|"]
        for arch in archs:
            by = {(r["threads"], r["seed"]): r for r in rows if r["arch"] == arch}
            for seed in sorted({s for _, s in by}):
                if (a, seed) in by and (b, seed) in by:
                    x, y = by[(a, seed)], by[(b, seed)]
                    if x.get("diverged") or y.get("diverged"):
                        which = " and ".join(
                            f"{r['threads']} thread(s)" for r in (x, y) if r.get("diverged")
                        )
                        lines.append(f"| {arch} | {seed} | diverged with {which} | — | — |")
                        continue
                    da = y["test_acc_pct"] - x["test_acc_pct"]
                    ds = y["fc_sparsity_pct"] - x["fc_sparsity_pct"]
                    same = "yes" if (da, ds) == (0.0, 0.0) else "no"
                    lines.append(f"| {arch} | {seed} | {da:+.2f} | {ds:+.2f} | {same} |")
    return "\n".join(lines) + "\n"


def run_all(
    plan: list[tuple[str, int, int]], params: dict[str, Any], args: argparse.Namespace
) -> Iterator[dict[str, Any]]:
    """Each (arch, seed, threads) run's row as it finishes: in this process with --jobs 1,
    else in --jobs spawned processes (a fresh torch each, so its own thread pool)."""
    if args.jobs == 1:
        for arch, seed, threads in plan:
            yield one_run(params, args, arch, seed, threads)
        return
    ctx = multiprocessing.get_context("spawn")
    with futures.ProcessPoolExecutor(args.jobs, mp_context=ctx) as pool:
        jobs = [pool.submit(one_run, params, args, a, s, t) for a, s, t in plan]
        for done in futures.as_completed(jobs):
            yield done.result()


def describe(args: argparse.Namespace, rows: list[dict[str, Any]]) -> str:
    minutes = sum(r.get("wall_seconds") or 0.0 for r in rows) / 60
    prior = sum(1 for r in rows if r.get("prior"))
    merged = f"; {prior} of {len(rows)} rows from --prior" if prior else ""
    return (
        f"{args.method} on {args.dataset}, grid {args.grid} x profile {args.profile} "
        f"{' '.join(args.set)}; seeds 0-{args.seeds - 1}; {minutes:.1f} min of training, "
        f"summed over the runs{merged}"
    )


def write_tables(args: argparse.Namespace, rows: list[dict[str, Any]]) -> None:
    rows = sorted(rows, key=lambda r: (r["threads"], r["arch"], r["seed"]))
    threads = sorted({r["threads"] for r in rows})
    atomic.write_json(args.out / "seed_spread.json", rows)
    atomic.write_text(
        args.out / "seed_spread.md", f"{describe(args, rows)}\n\n" + table(rows, threads)
    )


Key = tuple[str, int, int]  # (arch, seed, threads)


def prior_rows(
    files: list[Path], plan: list[Key], params: dict[str, Any], args: argparse.Namespace
) -> dict[Key, dict[str, Any]]:
    """Rows of the plan measured earlier (earlier seed_spread.json files, later files win), so
    a table measured in pieces, on other machines or by runs since deleted, can be completed.
    A row whose recorded identity is not the planned run's was another configuration: refused.
    Rows written before rows recorded an identity are taken as they are."""
    from weightswitch.rundir import identity_of

    rows: dict[Key, dict[str, Any]] = {}
    for path in files:
        try:
            loaded = json.loads(path.read_text())
            keyed = [((r["arch"], r["seed"], r["threads"]), r) for r in loaded]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise WeightswitchError(f"--prior {path}: not a seed_spread.json ({exc!r})") from None
        for key, row in keyed:
            if key not in plan:
                continue
            want = identity_of(run_config(params, args, *key)).digest
            if row.get("identity") not in (None, want):
                raise WeightswitchError(
                    f"--prior {path}: {row['arch']} seed {row['seed']} threads {row['threads']} "
                    f"measured another configuration (identity {row['identity'][:12]}, the plan's "
                    f"{want[:12]}); drop the file or match its --grid/--profile/--set"
                )
            rows[key] = {**row, "prior": str(path)}
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--grid", default="fashion", help="conf/grid/*.yaml (its datasets)")
    ap.add_argument("--profile", default="quick", help="conf/profile/*.yaml: the CPU budget")
    ap.add_argument("--dataset", default="fashion_mnist")
    ap.add_argument("--archs", nargs="+", default=["lenet300", "lenet5"])
    ap.add_argument("--method", default="switcher", help="switcher | switcher-neuron | ...")
    ap.add_argument("--seeds", type=int, default=5, help="seeds 0..N-1")
    ap.add_argument(
        "--only",
        type=int,
        nargs="+",
        default=None,
        metavar="SEED",
        help="train only these of the seeds (a table measured in pieces)",
    )
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--root", type=Path, default=PROJECT / "data", help="prepared data")
    ap.add_argument("--out", type=Path, default=None, help="run folders (default: a temp dir)")
    ap.add_argument("--set", action="append", default=[], help="extra Hydra override")
    ap.add_argument("--jobs", type=int, default=1, help="runs trained at once (processes)")
    ap.add_argument(
        "--prior",
        type=Path,
        nargs="+",
        default=[],
        metavar="JSON",
        help="earlier seed_spread.json: its rows of the plan are used, not retrained "
        "(a run finished in --out replaces one)",
    )
    ap.add_argument(
        "--table-only",
        action="store_true",
        help="train nothing: tables from the runs of the plan already finished",
    )
    args = ap.parse_args(argv)
    tmp = tempfile.TemporaryDirectory(prefix="ws-seeds-")
    args.out = args.out or Path(tmp.name)
    params = compose(args.grid, args.profile, args.set, Path(tmp.name))
    if args.jobs < 1 or args.seeds < 1:
        ap.error(f"--jobs and --seeds must be at least 1, got {args.jobs} and {args.seeds}")
    # thread count outermost: the 1-thread spread (the committed results' setting) comes
    # first; seed 0 last, as the grid's own seed-0 run is often there already
    seeds = [*range(1, args.seeds), 0]
    if args.only is not None:
        if bad := sorted(set(args.only) - set(seeds)):
            ap.error(f"--only {bad}: not among the seeds 0-{args.seeds - 1}")
        seeds = [s for s in seeds if s in args.only]
    plan = [(arch, seed, t) for t in args.threads for arch in args.archs for seed in seeds]
    start = time.perf_counter()
    try:
        prior = prior_rows(args.prior, plan, params, args)
    except WeightswitchError as exc:
        ap.error(str(exc))
    found = {k: r for k in plan if (r := finished_row(params, args, *k))}
    if args.table_only:
        rows = list({**prior, **found}.values())
        print(
            f"seed_spread: {len(found)} of {len(plan)} planned runs finished, "
            f"{len(set(prior) - set(found))} more from --prior (--table-only)"
        )
        return finish(args, rows, tmp)
    todo = [k for k in plan if k not in prior or k in found]
    rows = [r for k, r in prior.items() if k not in todo]
    for n, row in enumerate(run_all(todo, params, args), 1):
        rows.append(row)
        minutes = (time.perf_counter() - start) / 60
        print(
            f"seed_spread: {n}/{len(todo)} done: {row['arch']} seed {row['seed']} threads "
            f"{row['threads']}, {minutes:.1f} min",
            flush=True,
        )
        write_tables(args, rows)  # a killed benchmark leaves what it measured
    return finish(args, rows, tmp)


def finish(
    args: argparse.Namespace, rows: list[dict[str, Any]], tmp: tempfile.TemporaryDirectory
) -> int:
    write_tables(args, rows)
    print(f"\n{describe(args, rows)}\n")
    print(table(rows, args.threads))
    tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
