"""The report pipeline: collect -> tables -> figures -> README index, each file atomic.

One report lives in its own folder (the pipeline uses `reports/<grid>/<profile>/`), so
reports of other grids and profiles are never touched. Inside it, `tables/`, `figures/` (PNG:
the images `dvc plots` renders) and `pdf/` belong to the report alone: files there that this
run did not produce are removed, so the index never sits next to stale figures.

With a workspace folder (`--workspace reports`), two more things are written there: the
headline metrics of THIS report as `metrics/<dataset>-<arch>-<method>.json` (what `dvc metrics` and
`dvc exp show` compare; they follow the workspace, like params.yaml and dvc.lock) and
`README.md`, an index of every report folder found under it.
"""

from __future__ import annotations

import datetime
import json
import sys
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from weightswitch.atomic import write_text
from weightswitch.catalog import method_order
from weightswitch.errors import WeightswitchError
from weightswitch.report import tables as T
from weightswitch.report.collect import (
    Collection,
    collect,
    load_expected,
    read_yaml,
    with_expected,
)
from weightswitch.report.index import (
    Entry,
    Index,
    RunCount,
    budget_label,
    budget_text,
    commits,
    generated_at,
    git_commit,
    render,
    write_workspace_index,
)
from weightswitch.report.references import reference_table

Log = Callable[[str], None]
STALE_SUFFIXES = {".png", ".pdf", ".md", ".csv", ".tex", ".json", ".tmp"}
OWNED = ("tables", "figures", "pdf")  # sub-folders that belong to one report alone
HEADLINE = (
    ("acc", "test_acc_pct_mean"),
    ("acc_std", "test_acc_pct_std"),
    ("sparsity", "fc_sparsity_pct_mean"),
)
GENERATED_LINE = "- Generated: "  # the README's one line that names the moment of generation
HEADLINE_KEYS = ("acc", "acc_std", "sparsity", "n", "epochs", "train_images")


def _log(msg: str) -> None:
    print(f"report: {msg}", flush=True)


def _warn(msg: str) -> None:
    print(f"report: warning: {msg}", file=sys.stderr, flush=True)


def gather(
    results: Path,
    profile: str | None,
    expected: Path | None,
    log: Log = _log,
    grid: str | None = None,
) -> Collection:
    """Collect the runs, apply the expected grid, and fail clearly when nothing is usable."""
    if not results.is_dir():
        raise WeightswitchError(f"results directory {results} does not exist; nothing to report")
    log(f"collecting runs under {results}" + (f" (profile {profile})" if profile else ""))
    col = collect(results, profile)
    found = sorted(set(col.runs["profile"])) or ([profile] if profile else [results.name])
    if expected is not None:
        col = with_expected(col, load_expected(expected, [profile] if profile else found), profile)
    col.grid = grid or _grid_name(expected, found)
    if col.ok.empty:
        broken = len(col.missing)
        detail = f" ({broken} run(s) without usable metrics.json)" if broken else ""
        where = f"for profile {profile!r} " if profile else ""
        found = sorted(p.name for p in results.iterdir() if p.is_dir())
        hint = f"; profiles present: {', '.join(found)}" if profile and found else ""
        raise WeightswitchError(
            f"no completed runs {where}under {results} (looked for **/metrics.json){detail}{hint}"
        )
    log(f"{len(col.ok)} completed run(s), {len(col.missing)} missing, {len(col.diverged)} diverged")
    return col


def _grid_name(expected: Path | None, profiles: list[str]) -> str | None:
    """The params grid behind these runs: from --expected when it is a params file, else from
    ./params.yaml when that file's profile is the one reported (the DVC stage's case)."""
    for path in (expected, Path("params.yaml")):
        if path is None or not path.is_file():
            continue
        try:
            data = read_yaml(path)
        except WeightswitchError:
            continue
        mine = path == expected or (isinstance(data, dict) and data.get("profile") in profiles)
        if isinstance(data, dict) and data.get("grid") and mine:
            return str(data["grid"])
    return None


def _source(col: Collection, profile: str | None = None) -> str:
    where = col.root / profile if profile and (col.root / profile).is_dir() else col.root
    return f"{where}" + (f" (grid {col.grid})" if col.grid else "")


def _profiles(col: Collection) -> pd.DataFrame:
    rows = []
    for profile, g in col.runs.groupby("profile"):
        ok = g[g["status"] == "ok"]
        pairs = sorted({f"{d}/{a}" for d, a in zip(g["dataset"], g["arch"], strict=True)})
        rows.append(
            {
                "profile": profile,
                "grid": col.grid or "—",
                "dataset/arch": ", ".join(pairs),
                "methods": ", ".join(method_order(g["method"].unique())),
                "seeds": ", ".join(map(str, sorted(ok["seed"].unique()))) or "—",
                "runs ok": len(ok),
                "missing": int((g["status"] == "missing").sum()),
                "diverged": int((g["status"] == "diverged").sum()),
                **{
                    f"{split} size": ", ".join(sorted({f"{int(v)}" for v in ok[col].dropna()}))
                    or "—"
                    for split, col in (("train", "train_size"), ("test", "test_size"))
                },
                "run commits": ", ".join(commits(ok["git_commit"])) or "—",
                "devices": ", ".join(sorted({str(d) for d in ok["device"].dropna()})) or "—",
            }
        )
    return pd.DataFrame(rows)


def _per_profile_md(df: pd.DataFrame, title: str, headers: dict[str, str] | None = None) -> str:
    parts = []
    for profile, g in df.groupby("profile", sort=True):
        heading = f"### Profile `{profile}`{budget_label(str(profile))}"
        parts += [heading, "", T.markdown(g.drop(columns="profile"), headers)]
    return f"# {title}\n\n" + "\n".join(parts)


def write_tables(col: Collection, out: Path, log: Log = _log) -> tuple[list[Entry], str]:
    """Write every table; return their index entries and the summary Markdown for the README."""
    tdir = out / "tables"
    expected = col.expected is not None
    summary = T.summary_table(col)
    shown = T.summary_display(summary, expected)
    seeds = ", ".join(map(str, sorted(col.ok["seed"].unique())))
    profiles = ", ".join(sorted(col.ok["profile"].unique()))
    n_note = "completed runs / expected runs" if expected else "completed runs"
    cap = (
        f"Per dataset/arch/method: mean ± sample std over seeds of test accuracy (%), FC "
        f"sparsity (% exactly-zero effective FC weights) and whole-model compression ratio "
        f"(all parameters / non-zero effective parameters). Δ vs dense = mean test accuracy "
        f"minus the dense mean of the same pair, in percentage points. Magnitude and random "
        f"pruning are pruned to the sparsity of the run named in 'matched to'. n = {n_note}; "
        f"'missing' = no completed run (n = 0); 'diverged' = every run of it diverged (a "
        f"result: see missing.md); '—' = undefined (std of a single run, or a "
        f"metric the method does not have). Profile(s) {profiles}; seeds {seeds}; "
        f"from {_source(col)}. {T.FLOOR_NOTE}"
    )
    entries: list[Entry] = []
    files = [
        write_text(tdir / "summary.csv", summary.to_csv(index=False, float_format="%.6g")),
        write_text(
            tdir / "summary.md",
            _per_profile_md(shown, "Summary", T.SUMMARY_HEADERS) + f"\n{cap}\n",
        ),
        write_text(tdir / "summary.tex", _summary_tex(shown, cap)),
    ]
    entries.append(Entry("Summary: accuracy, sparsity, compression", cap, files))
    entries.append(
        Entry(
            "Headline metrics (dvc metrics)",
            "The summary's means as nested JSON (profile -> dataset -> arch -> method) for "
            "`dvc metrics show/diff`; null where a run is missing.",
            [write_metrics(summary, out)],
        )
    )
    layers = T.layer_table(col)
    lcap = (
        f"Sparsity (%) of each switched layer per method: mean ± sample std over seeds, n runs. "
        f"Profile(s) {profiles}; seeds {seeds}; layer_sparsity of metrics.json from "
        f"{_source(col)}."
    )
    lfiles = [
        write_text(tdir / "layer_sparsity.csv", layers.to_csv(index=False, float_format="%.6g")),
        write_text(
            tdir / "layer_sparsity.md",
            _per_profile_md(
                T.layer_display(layers).assign(profile=layers["profile"]), "Per-layer sparsity"
            )
            + f"\n{lcap}\n",
        ),
    ]
    entries.append(Entry("Per-layer sparsity", lcap, lfiles))
    runs = T.runs_table(col)
    rfile = write_text(tdir / "runs.csv", runs.to_csv(index=False, float_format="%.6g"))
    hfile = write_text(tdir / "history.csv", col.history.to_csv(index=False, float_format="%.6g"))
    entries.append(
        Entry(
            "Every run and every epoch",
            "runs.csv: one row per run (status ok/missing/diverged with the reason; accuracies and "
            "sparsities in %). history.csv: one row per run-epoch as in each run's history.csv "
            "(accuracies as fractions), the data of the training-curve figures.",
            [rfile, hfile],
        )
    )
    missing = T.missing_table(col)
    mtext = T.markdown(missing) if len(missing) else "None: every run found has its metrics.\n"
    mfiles = [
        write_text(tdir / "missing.csv", missing.to_csv(index=False)),
        write_text(tdir / "missing.md", f"# Missing and diverged runs\n\n{mtext}"),
    ]
    entries.append(
        Entry(
            "Missing and diverged runs",
            f"{len(col.missing)} run(s) expected or started but without usable metrics.json, "
            f"{len(col.diverged)} diverged (training hit NaN/inf: a result of the run's "
            "inputs, counted in the summary's n); their numbers are not shown anywhere (no "
            "value is imputed).",
            mfiles,
        )
    )
    refs = reference_table()
    rshown = T.reference_display(refs)
    rcap = (
        "Published reference numbers with their source (NOT measured by this suite; other "
        "code, budgets and selection rules). Han et al. 2015 report top-1 error; accuracy = "
        "100 − error. Rows of kind 'reference implementation' are constants of the first "
        "author's public training code (floors of its reported accuracy), not measurements."
    )
    rfiles = [
        write_text(tdir / "references.csv", refs.to_csv(index=False)),
        write_text(
            tdir / "references.md", f"# Published references\n\n{T.markdown(rshown)}\n{rcap}\n"
        ),
        write_text(
            tdir / "references.tex",
            T.latex(rshown.drop(columns=["note"]), rcap, "tab:references", group=("kind",)),
        ),
    ]
    entries.append(Entry("Published references (separate from our measurements)", rcap, rfiles))
    for e in entries:
        log(f"wrote {', '.join(str(f.relative_to(out)) for f in e.files)}")
    inline = _per_profile_md(shown, "x", T.SUMMARY_HEADERS).split("\n", 2)[2]
    return entries, inline.replace("### Profile", "#### Profile") + f"\n{T.FLOOR_NOTE}\n"


def keep_analysis(col: Collection, records: Path) -> None:
    """Copy conf/analysis.yaml into the records when its study is this report's grid and
    profile, so the primary table rebuilds from the records alone (a fresh clone, any CWD)."""
    import shutil

    from weightswitch.provenance import project_root
    from weightswitch.report.analysis import ANALYSIS_FILE, load_analysis

    path = project_root() / ANALYSIS_FILE
    if not path.is_file():
        return
    study = load_analysis(path).study
    if col.grid == study["grid"] and study["profile"] in set(col.runs["profile"]):
        shutil.copyfile(path, records / ANALYSIS_FILE.name)


def write_primary(
    col: Collection, points: pd.DataFrame | None, out: Path, records: Path, log: Log = _log
) -> tuple[Entry | None, str]:
    """tables/primary.{csv,md}: the pre-registered family kept in the records
    (`keep_analysis`); (None, "") for a report without one."""
    from weightswitch.report import primary as P
    from weightswitch.report.analysis import ANALYSIS_FILE, load_analysis

    path = records / ANALYSIS_FILE.name
    if not path.is_file():
        return None, ""
    analysis = load_analysis(path)
    table = P.primary_table(col, points, analysis)
    shown = T.markdown(P.display(table), P.HEADERS)
    cap = P.caption(analysis)
    files = [
        write_text(out / "tables" / "primary.csv", table.to_csv(index=False, float_format="%.6g")),
        write_text(out / "tables" / "primary.md", f"# Primary comparisons\n\n{shown}\n{cap}\n"),
    ]
    log(f"wrote {', '.join(str(f.relative_to(out)) for f in files)}")
    return Entry("Primary comparisons (pre-registered)", cap, files), f"{shown}\n{cap}\n"


def _summary_tex(shown: pd.DataFrame, caption: str) -> str:
    parts = []
    for profile, g in shown.groupby("profile", sort=True):
        parts.append(
            T.latex(
                g.drop(columns="profile"),
                f"{caption} Profile: {profile}{budget_label(str(profile))}.",
                f"tab:summary-{profile}",
                T.SUMMARY_HEADERS,
                group=("dataset", "arch"),
                align="lll" + "r" * 5 + "lrr",  # epochs, acc, delta, sparsity, compression
            )
        )
    return "% Generated by `weightswitch report`; needs \\usepackage{booktabs}.\n" + "\n".join(
        parts
    )


def write_figures(
    col: Collection, out: Path, records: Path, log: Log = _log
) -> tuple[dict[str, list[Entry]], list[str]]:
    """Draw and save every figure per profile; return index entries and skip notes. Gate
    figures draw the reduced gate data of the report's records (never gates.pt directly), so
    a rebuild from git alone draws the same pixels."""
    from weightswitch.report import figures as F
    from weightswitch.report.records import load_gate_data

    F.setup()
    runs = T.runs_table(col)
    hist, maps = load_gate_data(records)
    figures: dict[str, list[Entry]] = {}
    notes: list[str] = []
    profiles = sorted(col.ok["profile"].unique())
    for profile in profiles:
        source = _source(col, profile)
        budget = budget_text(col, profile)
        partial = RunCount.of(col.runs, profile).label()
        plots = [
            F.accuracy_vs_sparsity(runs, profile, source),
            *F.training_curves(col.history, profile, source),
            F.layer_sparsity(col.layers, profile, source),
            F.gate_histograms(hist, profile, source),
            *F.gate_maps(maps, profile, source),
        ]
        if not (hist["profile"] == profile).any():
            notes.append(
                f"{profile}: gate histograms and gate maps skipped: no switcher run "
                "with a readable gates.pt."
            )
        elif not any(m.ident["profile"] == profile for m in maps):
            notes.append(f"{profile}: gate maps skipped: no connection-switcher run with gates.pt.")
        if not (col.layers["profile"] == profile).any():
            notes.append(f"{profile}: per-layer sparsity figure skipped: no layer_sparsity.")
        if not (col.history["profile"] == profile).any():
            notes.append(f"{profile}: training curves skipped: no readable history.csv.")
        entries = []
        for plot in filter(None, plots):
            if len(profiles) == 1:  # one report per folder: no profile sub-folder
                plot.stem = plot.stem.split("/", 1)[1]
            title = plot.stem.split("/")[-1].replace("_", " ")
            entries.append(F.publish(plot, out, budget, partial, title, log))
        figures[profile] = entries
    return figures, notes


def _prune_stale(out: Path, written: list[Path], log: Log) -> None:
    keep = {p.resolve() for p in written}
    for sub in OWNED:
        base = out / sub
        if not base.is_dir():
            continue
        for path in sorted(base.rglob("*"), reverse=True):
            if path.is_file() and path.suffix in STALE_SUFFIXES and path.resolve() not in keep:
                path.unlink()
                log(f"removed stale {path.relative_to(out)}")
            elif path.is_dir() and not any(path.iterdir()):
                path.rmdir()


def _clean(value: float) -> float | None:
    return None if pd.isna(value) else round(float(value), 4)


def write_metrics(summary: pd.DataFrame, out: Path) -> Path:
    """The report's metrics.json: dataset -> arch -> method -> numbers (null where there is no
    value; nothing is imputed). Keys start with the profile only when several are reported."""
    tree: dict = {}
    nested = summary["profile"].nunique() > 1
    for r in summary.itertuples(index=False):
        top = tree.setdefault(r.profile, {}) if nested else tree
        node = top.setdefault(r.dataset, {}).setdefault(r.arch, {})
        node[r.method] = {
            "test_acc_pct": _clean(r.test_acc_pct_mean),
            "test_acc_pct_std": _clean(r.test_acc_pct_std),
            "fc_sparsity_pct": _clean(r.fc_sparsity_pct_mean),
            "compression_ratio": _clean(r.compression_ratio_mean),
            "delta_vs_dense_pp": _clean(r.delta_vs_dense_pp),
            "n": int(r.n),
            "n_expected": int(r.n_expected),
        }
    return write_text(out / "metrics.json", json.dumps(tree, indent=2, allow_nan=False) + "\n")


def write_headline(col: Collection, summary: pd.DataFrame, folder: Path, log: Log) -> list[Path]:
    """`folder/<dataset>-<arch>-<method>.json` = {acc, acc_std, sparsity, n, epochs,
    train_images}: the same few keys for every grid and profile, so `dvc metrics show` is a
    tall, narrow table (one row per pair and method) and `dvc metrics diff` compares the same
    quantity across profiles."""
    budget = col.ok.groupby(list(T.GROUP)).agg(
        epochs=("epochs", "max"), train_images=("train_size", "max")
    )
    several = summary["profile"].nunique() > 1  # then the profile leads the file name
    written = []
    for r in summary.itertuples(index=False):
        key = (r.profile, r.dataset, r.arch, r.method)
        body = {name: _clean(getattr(r, column)) for name, column in HEADLINE}
        body["n"] = int(r.n)
        for name in ("epochs", "train_images"):
            value = budget[name].get(key) if key in budget.index else None
            body[name] = None if value is None or pd.isna(value) else int(value)
        text = json.dumps(body, indent=2, allow_nan=False) + "\n"
        stem = f"{r.profile}-" * several + f"{r.dataset}-{r.arch}-{r.method}"
        written.append(write_text(folder / f"{stem}.json", text))
    for path in sorted(folder.glob("*.json")):
        if path not in written:
            path.unlink()
    log(f"wrote {len(written)} headline metric files to {folder}")
    return written


def _write_readme(path: Path, text: str) -> Path:
    """Write the README unless it differs from the one there only in its generation line (and
    that one names a clean commit): a rebuild of an unchanged report leaves the tree as it
    was (issue 38)."""

    def body(t: str) -> list[str]:
        return [line for line in t.splitlines() if not line.startswith(GENERATED_LINE)]

    old = path.read_text(encoding="utf-8") if path.is_file() else None
    stamp = [line for line in (old or "").splitlines() if line.startswith(GENERATED_LINE)]
    if old is not None and body(old) == body(text) and not any("-dirty" in s for s in stamp):
        return path
    return write_text(path, text)


def _recorded(meta: dict) -> datetime.datetime | None:
    """The date the report's records were taken (report.json), for its citation."""
    try:
        return datetime.datetime.fromisoformat(str(meta["recorded"]))
    except (KeyError, ValueError):
        return None


def build_report(
    results: Path,
    out: Path,
    profile: str | None = None,
    expected: Path | None = None,
    log: Log = _log,
    warn: Log = _warn,
    command: str = "weightswitch report",
    grid: str | None = None,
    workspace: Path | None = None,
    frontier: Path | None = None,
    rebuild: bool = False,
) -> Path:
    """Run the whole report; return the path of the README index. `frontier`: the root of
    the frontier runs (issue 12), drawn with the switcher's ablations.

    The run folders' small records are first copied into `<out>/records` (report/records.py)
    and the report is built from those alone; `rebuild` skips the copy and rebuilds from
    the committed records (a fresh clone has no run folders)."""
    from weightswitch.report.comparisons import write as write_comparisons
    from weightswitch.report.frontier import report_points
    from weightswitch.report.frontier import write as write_frontier
    from weightswitch.report.ranking import write as write_rankings
    from weightswitch.report.records import META_FILE, RECORDS, read_meta, sync

    out = Path(out)
    if rebuild:
        records = out / RECORDS
        if not (records / META_FILE).is_file():
            raise WeightswitchError(
                f"{out} holds no {RECORDS}/ to rebuild from (a report "
                "written before records were kept: rerun its pipeline)"
            )
    else:
        expected = Path(expected) if expected else None
        grid = grid or _grid_name(expected, [profile] if profile else [])
        gather(Path(results), profile, expected, lambda msg: None, grid)  # usable? else stop
        records = sync(
            Path(results), Path(frontier) if frontier else None, out, profile, expected, grid, log
        )
    meta = read_meta(records)
    results = records / "runs"
    frontier = records / "frontier" if (records / "frontier").is_dir() else None
    wanted = records / META_FILE if meta.get("expected") else None
    col = gather(results, profile, wanted, log, grid or meta.get("grid"))
    tables, inline = write_tables(col, out, log)
    if workspace is not None:
        write_headline(col, T.summary_table(col), Path(workspace) / "metrics", log)
    figures, notes = write_figures(col, out, records, log)
    points = report_points(col, frontier)
    table, more = write_frontier(col, points, frontier, out, lambda p: _source(col, p), log)
    tables += [table] if table else []
    paired, conclusions = write_comparisons(col, points, out, log)
    tables += paired
    if not rebuild:
        keep_analysis(col, records)
    primary_entry, primary_md = write_primary(col, points, out, records, log)
    if primary_entry is not None:
        tables.insert(0, primary_entry)
    rankings = write_rankings(col, points, out, lambda p: _source(col, p), log)
    for key, entries in rankings.items():
        figures.setdefault(key, []).extend(entries)
    for key, entries in more.items():
        figures.setdefault(key, []).extend(entries)
    for w in col.warnings:
        warn(w)
    index = Index(
        results=str(results),
        profiles=_profiles(col),
        tables=tables,
        figures=figures,
        notes=notes,
        warnings=col.warnings,
        inline_summary=inline,
        conclusions=conclusions,
        primary=primary_md,
        command=command,
        grid=col.grid,
        run_commits=commits(col.runs["git_commit"]),
        recorded=_recorded(meta),
    )
    readme = _write_readme(out / "README.md", render(index, out, git_commit(), generated_at()))
    written = [f for e in tables for f in e.files]
    written += [f for es in figures.values() for e in es for f in e.files]
    _prune_stale(out, [*written, readme], log)
    if workspace is not None:
        log(f"wrote {write_workspace_index(Path(workspace))}")
    log(
        f"wrote {readme} (index of {len(tables)} tables, {sum(map(len, figures.values()))} figures)"
    )
    return readme
