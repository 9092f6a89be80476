"""The numbers a conclusion may cite (issue 28), each with its 95% interval, as sections of
the report (`report.writer`):

- `tables/paired.{csv,md,tex}`: paired differences of test accuracy by seed
  (`paired.paired_table`): every method vs dense, every switcher variant vs the pruning runs
  matched to its sparsity, and every frontier method (gate-ranked ones included) vs dense and
  vs magnitude at the same target, each naming both sides' total training epochs; failed runs
  counted with a Wilson interval of their rate.
- `tables/gate_spearman.{csv,md}`: Spearman(g, |W|) per switched layer at the end of training,
  mean and t interval over seeds; `gate_spearman_epochs.csv` holds every epoch's value.
- `conclusions(...)`: the report README's claims, by the wording rule of `report.stats`: a
  difference only where its interval excludes zero, each under its budget.

Metrics only: the figures that draw these numbers live in `report.ranking`.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from weightswitch.catalog import CATALOG, method_order
from weightswitch.report.collect import PAIR, STATUS_OK, Collection
from weightswitch.report.index import budget_text
from weightswitch.report.paired import (
    CONTROL,
    PAIRED_HEADERS,
    WORKING,
    paired_display,
    paired_note,
    paired_table,
)
from weightswitch.report.render import epochs_text, fmt_num
from weightswitch.report.seeds import collapsed
from weightswitch.report.stats import correlation_interval, wilson_interval
from weightswitch.report.writer import Section, Tex
from weightswitch.run_files import read_record

SPEARMAN_COLUMNS = (
    *PAIR,
    "method",
    "layer",
    "n",
    "seeds",
    "rho_mean",
    "rho_ci_low",
    "rho_ci_high",
    "rho_min",
    "rho_max",
)
SPEARMAN_HEADERS = {
    "dataset": "dataset",
    "arch": "arch",
    "method": "method",
    "layer": "layer",
    "rho": "Spearman(g, |W|), mean [95% CI]",
    "range": "min to max over seeds",
    "n": "n (seeds)",
}
# the target sparsity (%) the conclusions quote for gate-ranked vs magnitude pruning
HEADLINE_TARGET = 90.0


def spearman_epochs(col: Collection) -> pd.DataFrame:
    """Every switcher run's per-epoch Spearman(g, |W|) per layer, from its metrics.json (the
    small record `gate_weight_spearman` kept during training): one row per run, epoch, layer."""
    rows = []
    ok = col.runs[(col.runs["status"] == STATUS_OK) & col.runs["path"].notna()]
    for r in ok.itertuples(index=False):
        try:
            data = read_record(r.path)
        except (OSError, ValueError):
            continue
        for entry in data.get("gate_weight_spearman") or []:
            for layer, rho in entry.items():
                if layer != "epoch":
                    rows.append(
                        {
                            **{k: getattr(r, k) for k in PAIR},
                            "method": r.method,
                            "seed": int(r.seed),
                            "epoch": int(entry["epoch"]),
                            "layer": layer,
                            "rho": float(rho),
                        }
                    )
    return pd.DataFrame(rows, columns=[*PAIR, "method", "seed", "epoch", "layer", "rho"])


def spearman_table(epochs: pd.DataFrame) -> pd.DataFrame:
    """Per pair, method and layer: Spearman(g, |W|) at each run's last epoch, averaged over
    seeds through Fisher's z with its t interval (`stats.correlation_interval`), and the
    range."""
    if epochs.empty:
        return pd.DataFrame(columns=list(SPEARMAN_COLUMNS))
    last = epochs[
        epochs["epoch"] == epochs.groupby([*PAIR, "method", "seed"])["epoch"].transform("max")
    ]
    rows = []
    for (*pair, method, layer), g in last.groupby([*PAIR, "method", "layer"], sort=True):
        rho = g.dropna(subset=["rho"])
        ci = correlation_interval(rho["rho"])
        rows.append(
            {
                **dict(zip(PAIR, pair, strict=True)),
                "method": method,
                "layer": layer,
                "n": ci.n,
                "seeds": ",".join(map(str, sorted(rho["seed"]))),
                "rho_mean": ci.estimate,
                "rho_ci_low": ci.low,
                "rho_ci_high": ci.high,
                "rho_min": rho["rho"].min(),
                "rho_max": rho["rho"].max(),
            }
        )
    out = pd.DataFrame(rows, columns=list(SPEARMAN_COLUMNS))
    order = {m: i for i, m in enumerate(method_order(out["method"].unique()))}
    out = out.assign(_m=out["method"].map(order)).sort_values([*PAIR, "_m", "layer"])
    return out.drop(columns="_m").reset_index(drop=True)


def _signed(v: float) -> str:
    return fmt_num(v, signed=True)


def _rho(r: Any) -> str:
    """A Spearman row's mean with its interval: '+0.12 [+0.05, +0.19]' (none from one seed)."""
    ci = "" if math.isnan(r.rho_ci_low) else f" [{_signed(r.rho_ci_low)}, {_signed(r.rho_ci_high)}]"
    return _signed(r.rho_mean) + ci


def spearman_display(table: pd.DataFrame) -> pd.DataFrame:
    rows = [
        {
            "profile": r.profile,
            "dataset": r.dataset,
            "arch": r.arch,
            "method": r.method,
            "layer": r.layer,
            "rho": _rho(r),
            "range": f"{_signed(r.rho_min)} to {_signed(r.rho_max)}",
            "n": f"{r.n} ({r.seeds})",
        }
        for r in table.itertuples(index=False)
    ]
    return pd.DataFrame(rows, columns=["profile", *SPEARMAN_HEADERS])


def comparison_sections(col: Collection, points: pd.DataFrame | None) -> tuple[list[Section], str]:
    """The paired and Spearman tables as sections, and the README's conclusions (Markdown;
    empty when nothing is paired)."""
    sections: list[Section] = []
    paired = paired_table(col.runs, points, collapsed=collapsed)
    if len(paired):
        sections.append(
            Section(
                "Paired differences with 95% confidence intervals",
                paired_note(paired),
                "paired",
                data=paired,
                heading="Paired differences",
                shown=paired_display(paired),
                headers=PAIRED_HEADERS,
                profile_level="##",
                caption_at="before",
                tex=Tex("tab:paired", group=("profile", "dataset", "arch")),
            )
        )
    epochs = spearman_epochs(col)
    spearman = spearman_table(epochs) if len(epochs) else None
    if spearman is not None:
        cap = (
            "Spearman rank correlation between each switched layer's gate g and |W| at the "
            "end of training (average ranks for ties), averaged over seeds through Fisher's z "
            "= atanh(r) with a 95% Student-t interval on z, both back-transformed, and the "
            "range. Near 0: the gates do not rank connections by "
            "magnitude; near 1: a magnitude ranking in disguise. Neuron gates are compared "
            "with their input unit's mean |W|. Every epoch's value: gate_spearman_epochs.csv."
        )
        sections.append(
            Section(
                "Gate-weight rank correlation (Spearman)",
                cap,
                "gate_spearman",
                data=spearman,
                heading="Gate-weight rank correlation",
                shown=spearman_display(spearman),
                headers=SPEARMAN_HEADERS,
                profile_level="##",
                caption_at="before",
                more=(("tables/gate_spearman_epochs.csv", epochs),),
            )
        )
    return sections, conclusions(col, paired, spearman)


def _line(r: pd.Series) -> str:
    at = "" if math.isnan(r.target_sparsity_pct) else f" at {r.target_sparsity_pct:g}% FC sparsity"
    ep, base_ep = epochs_text(r.epochs), epochs_text(r.baseline_epochs)
    base = f"{r.baseline} (nothing pruned)" if r.kind == CONTROL else r.baseline
    return f"{r.method}{ep} − {base}{base_ep}{at}: {r.claim} [pairs: {r.n_pairs}]"


def _rate(r: pd.Series) -> str:
    ran = int(r.n_runs - r.n_missing)
    rate = wilson_interval(int(r.n_collapsed + r.n_diverged), ran)
    if not ran:
        return ""
    return (
        f"{r.method}: {int(r.n_collapsed)} collapsed and {int(r.n_diverged)} diverged of "
        f"{ran} runs ({100 * rate.estimate:.0f}%, 95% Wilson interval "
        f"{100 * rate.low:.0f} to {100 * rate.high:.0f}%)"
    )


def conclusions(col: Collection, paired: pd.DataFrame, spearman: pd.DataFrame | None) -> str:
    """Markdown: per profile and pair, the failure rates of the switcher variants, their
    differences from dense and from the runs matched to their sparsity, gate-ranked minus
    magnitude pruning at HEADLINE_TARGET, and the end-of-training Spearman(g, |W|); every
    difference in the wording rule's terms."""
    if paired.empty:
        return ""
    parts = [
        "Differences are paired by seed (mean and 95% Student-t interval over seeds); one is "
        "claimed only where its interval excludes zero. Every line names each side's total "
        "training epochs (ep). All pairs and sparsities: tables/paired.md.",
        "",
    ]
    switchers = {m for m, spec in CATALOG.items() if spec.kind == "switcher"}
    for (profile, dataset, arch), g in paired.groupby(list(PAIR), sort=True):
        g = g[(g["n_pairs"] > 0) | (g["n_runs"] > g["n_missing"])]  # not run: nothing to say
        if g.empty:
            continue
        vs_dense = g[(g["kind"] == "vs dense") & g["method"].isin(switchers)]
        parts += [
            f"### {dataset} / {arch}, profile `{profile}` — {budget_text(col, str(profile))}",
            "",
        ]
        rates = [_rate(r) for r in vs_dense.itertuples(index=False)]
        if any(rates):
            parts.append(
                "- Failures (collapsed: test accuracy at most twice chance): "
                + "; ".join(filter(None, rates))
                + "."
            )
        parts += [f"- {_line(r)}" for r in vs_dense.itertuples(index=False)]
        matched = g[g["kind"] == "matched sparsity"]
        parts += [
            f"- {_line(r)} (the baseline pruned to the variant's own per-layer sparsity)"
            for r in matched.itertuples(index=False)
        ]
        control = g[(g["kind"] == CONTROL) & (g["target_sparsity_pct"] == HEADLINE_TARGET)]
        parts += [
            f"- {_line(r)} (what pruning costs at equal budgets: the same parent fine-tuned "
            "alike, nothing pruned)"
            for r in control.itertuples(index=False)
        ]
        gated = g[
            (g["kind"] == "frontier vs magnitude")
            & (g["target_sparsity_pct"] == HEADLINE_TARGET)
            & g["method"].map(
                lambda m: CATALOG[m].parent not in (None, "dense") if m in CATALOG else False
            )
        ]
        parts += [f"- {_line(r)}" for r in gated.itertuples(index=False)]
        working = g[(g["kind"] == WORKING) & (g["target_sparsity_pct"] == HEADLINE_TARGET)]
        parts += [
            f"- {_line(r)} (working parents only: the seeds whose "
            f"{CATALOG[r.method].parent} run finished without collapsing; conditional on it "
            "working, read with its failure rate)"
            for r in working.itertuples(index=False)
        ]
        same = g[
            (g["kind"] == "gate vs |g·W|, same parent")
            & (g["target_sparsity_pct"] == HEADLINE_TARGET)
        ]
        parts += [
            f"- {_line(r)} (the same gated parent: only the ranking differs, g vs "
            "magnitude of its effective weights)"
            for r in same.itertuples(index=False)
        ]
        if spearman is not None:
            mine = spearman[
                (spearman["profile"] == profile)
                & (spearman["dataset"] == dataset)
                & (spearman["arch"] == arch)
            ]
            rhos = [f"{r.method} {r.layer} {_rho(r)}" for r in mine.itertuples(index=False)]
            if rhos:
                parts.append(
                    "- Spearman(g, |W|) at the end of training, mean [95% CI]: "
                    + "; ".join(rhos)
                    + "."
                )
        parts.append("")
    return "\n".join(parts)
