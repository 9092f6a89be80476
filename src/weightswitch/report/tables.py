"""Tidy tables from a Collection (summary, per-layer sparsity, every run, missing runs) and
the display strings of each.

Numbers are computed here once (mean, sample std, n over seeds); the displays only format
them (`report.render`), and the figures read the same frames. Percent columns carry a `_pct`
suffix.
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from weightswitch.catalog import STUDY_METHODS, method_order
from weightswitch.report.collect import (
    KEYS,
    PAIR,
    STATUS_DIVERGED,
    STATUS_MISSING,
    STATUS_OK,
    Collection,
    parse_run_name,
)
from weightswitch.report.references import reference_floor
from weightswitch.report.render import DASH, fmt_num, fmt_stat

GROUP = (*PAIR, "method")
# (source column in runs, output stem, scale): fractions become percent.
STATS = (
    ("test_accuracy", "test_acc_pct", 100.0),
    ("val_accuracy", "val_acc_pct", 100.0),
    ("exported_test_accuracy", "exported_acc_pct", 100.0),
    ("fc_sparsity", "fc_sparsity_pct", 100.0),
    ("target_sparsity", "target_sparsity_pct", 100.0),
    ("compression_ratio", "compression_ratio", 1.0),
    ("snn_params", "snn_params", 1.0),
    ("fc_macs_removed", "fc_macs_removed", 1.0),
    ("epoch_seconds", "epoch_seconds", 1.0),
    ("wall_seconds", "wall_seconds", 1.0),
)


def matched_method(value: object) -> str | None:
    """The method of the run a matched run was matched to (its `matched_run` path)."""
    if not isinstance(value, str) or not value:
        return None
    parsed = parse_run_name(value.rstrip("/").split("/")[-1])
    return parsed["method"] if parsed else value


def summary_table(col: Collection) -> pd.DataFrame:
    """One row per profile/dataset/arch/method: mean, std (ddof=1) and n over seeds."""
    runs = col.runs
    groups = set(map(tuple, runs[list(GROUP)].itertuples(index=False, name=None)))
    if col.expected is None:  # every method on every pair (docs/design.md, "Baselines")
        pairs = {g[:3] for g in groups}
        groups |= {(*p, m) for p in pairs for m in STUDY_METHODS}
    expected_n: dict[tuple, int] = {}
    for rid in col.expected or []:
        key = (rid.profile, rid.dataset, rid.arch, rid.method)
        expected_n[key] = expected_n.get(key, 0) + 1
    rows = []
    for key in groups:
        sel = runs[(runs[list(GROUP)] == pd.Series(key, index=list(GROUP))).all(axis=1)]
        ok = sel[sel["status"] == STATUS_OK]
        row: dict[str, object] = dict(zip(GROUP, key, strict=True))
        row["n"] = len(ok)
        # expected runs plus any found beyond them (extra seeds of one method count too)
        row["n_expected"] = max(expected_n.get(key, 0), len(sel))
        row["n_missing"] = int((sel["status"] == STATUS_MISSING).sum()) + max(
            0, row["n_expected"] - len(sel)
        )
        row["n_diverged"] = int((sel["status"] == STATUS_DIVERGED).sum())
        row["seeds"] = ",".join(str(s) for s in sorted(ok["seed"]))
        # total training epochs (a pruning run counts its parent's plus its fine-tuning)
        row["epochs"] = pd.to_numeric(ok["epochs"], errors="coerce").max() if len(ok) else math.nan
        for src, stem, scale in STATS:
            values = ok[src].dropna() * scale
            row[f"{stem}_mean"] = values.mean() if len(values) else math.nan
            row[f"{stem}_std"] = values.std(ddof=1) if len(values) > 1 else math.nan
        matched = sorted({m for m in map(matched_method, ok["matched_run"]) if m})
        row["matched_to"] = ",".join(matched)
        if len(ok):
            complete = row["n_missing"] == 0 and row["n_diverged"] == 0
            row["status"] = "ok" if complete else "partial"
        else:  # nothing to show: say why, when every run of the group diverged
            row["status"] = (
                STATUS_DIVERGED if row["n_diverged"] and not row["n_missing"] else STATUS_MISSING
            )
        rows.append(row)
    df = pd.DataFrame(rows)
    dense = df[df["method"] == "dense"].set_index(list(PAIR))["test_acc_pct_mean"]
    base = df.set_index(list(PAIR)).index.map(lambda k: dense.get(k, math.nan))
    df["delta_vs_dense_pp"] = df["test_acc_pct_mean"].to_numpy() - base.to_numpy(dtype=float)
    df.loc[df["method"] == "dense", "delta_vs_dense_pp"] = math.nan
    return _sort(df)


def _sort(df: pd.DataFrame) -> pd.DataFrame:
    order = {m: i for i, m in enumerate(method_order(df["method"].unique()))}
    df = df.assign(_m=df["method"].map(order))
    return df.sort_values([*PAIR, "_m"]).drop(columns="_m").reset_index(drop=True)


def layer_table(col: Collection) -> pd.DataFrame:
    """Per switched layer sparsity (percent): mean, std and n over seeds."""
    cols = [*GROUP, "layer", "order", "sparsity_pct_mean", "sparsity_pct_std", "n"]
    if col.layers.empty:
        return pd.DataFrame(columns=cols)
    g = col.layers.assign(pct=col.layers["sparsity"] * 100).groupby([*GROUP, "layer"])
    df = g.agg(
        order=("order", "min"),
        sparsity_pct_mean=("pct", "mean"),
        sparsity_pct_std=("pct", lambda s: s.std(ddof=1) if s.count() > 1 else math.nan),
        n=("pct", "count"),
    ).reset_index()
    df = _sort(df)
    return df.sort_values([*PAIR, "order"], kind="stable").reset_index(drop=True)[cols]


def runs_table(col: Collection) -> pd.DataFrame:
    """Every run (ok, missing, diverged) with its raw numbers, accuracies/sparsities in %."""
    df = col.runs.copy()
    for src, stem, scale in STATS:
        df[stem] = df[src] * scale
    df["path"] = [_relative(p, col) if isinstance(p, str) else None for p in df["path"]]
    keep = [
        *KEYS,
        "run",
        "status",
        "reason",
        *(s for _, s, _ in STATS),
        "epochs",
        "w_epochs",
        "train_size",
        "test_size",
        "device",
        "threads",
        "cpu_capability",
        "git_commit",
        "matched_run",
        "has_gates",
        "path",
    ]
    return df[keep]


def _relative(path: str, col: Collection) -> str:
    try:
        return str(Path(path).relative_to(col.root))
    except ValueError:
        return path


def missing_table(col: Collection) -> pd.DataFrame:
    """Runs that were expected (or whose directory exists) but have no usable metrics: missing
    ones, and diverged ones (a result of their inputs, with the divergence as the reason)."""
    runs = col.runs[col.runs["status"].isin([STATUS_MISSING, STATUS_DIVERGED])]
    return runs[[*KEYS, "status", "reason"]].reset_index(drop=True)


SUMMARY_HEADERS = {
    "dataset": "dataset",
    "arch": "arch",
    "method": "method",
    "epochs": "epochs (total)",
    "acc": "test acc. (%)",
    "delta": "Δ vs dense (pp)",
    "sparsity": "FC sparsity (%)",
    "compression": "compression (×)",
    "matched": "matched to",
    "n": "n",
    "floor": "reference code floor (%) †",
}
# The caption of every summary that shows the `floor` column: what it is, and is not.
FLOOR_NOTE = (
    "† Not ours and not a measurement: the constant that the first author's public training "
    "code (arXiv:2103.15590 / arXiv:2110.05954) uses as a FLOOR of its reported test accuracy "
    "(it reports max(best epoch picked on the test set, floor)); shown for the paper's MNIST "
    "switcher settings only, '—' elsewhere."
)


def summary_display(summary: pd.DataFrame, expected: bool) -> pd.DataFrame:
    """Strings for the human-readable summary (Markdown, LaTeX)."""
    rows = []
    for r in summary.itertuples(index=False):
        n, diverged = int(r.n), int(r.n_diverged)
        empty = STATUS_DIVERGED if r.status == STATUS_DIVERGED else STATUS_MISSING
        count = f"{n}/{int(r.n_expected)}" if expected else str(n)
        rows.append(
            {
                "profile": r.profile,
                "dataset": r.dataset,
                "arch": r.arch,
                "method": r.method,
                "epochs": DASH if math.isnan(r.epochs) else f"{r.epochs:g}",
                "acc": fmt_stat(r.test_acc_pct_mean, r.test_acc_pct_std, n, empty=empty),
                "delta": fmt_num(r.delta_vs_dense_pp, signed=True),
                "sparsity": fmt_stat(r.fc_sparsity_pct_mean, r.fc_sparsity_pct_std, n, empty=empty),
                "compression": fmt_stat(
                    r.compression_ratio_mean, r.compression_ratio_std, n, empty=empty
                ),
                "matched": r.matched_to or DASH,
                "n": count + (f" ({diverged} diverged)" if diverged else ""),
                "floor": _floor(r.dataset, r.arch, r.method),
            }
        )
    return pd.DataFrame(rows, columns=["profile", *SUMMARY_HEADERS])


def _floor(dataset: str, arch: str, method: str) -> str:
    ref = reference_floor(dataset, arch, method)
    return DASH if ref is None or ref.test_accuracy_pct is None else f"{ref.test_accuracy_pct:.2f}"


def layer_display(layers: pd.DataFrame) -> pd.DataFrame:
    out = layers[[*GROUP, "layer"]].copy()
    out["sparsity (%)"] = [
        fmt_stat(m, s, int(n))
        for m, s, n in zip(
            layers["sparsity_pct_mean"], layers["sparsity_pct_std"], layers["n"], strict=True
        )
    ]
    out["n"] = layers["n"].astype(int).astype(str)
    return out


def reference_display(refs: pd.DataFrame) -> pd.DataFrame:
    out = refs[["kind", "dataset", "arch", "setting"]].copy()
    out["test acc. (%)"] = [fmt_num(v) for v in refs["test_accuracy_pct"]]
    out["compression (×)"] = [DASH if math.isnan(v) else f"{v:g}" for v in refs["compression"]]
    out["source"] = refs["source"]
    out["note"] = refs["note"]
    return out
