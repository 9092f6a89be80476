"""The report pipeline: collect -> tables -> figures -> README index, each file atomic.

One report lives in its own folder (the pipeline uses `reports/<grid>/<profile>/`), so
reports of other grids and profiles are never touched. Inside it, `tables/`, `figures/` (PNG:
the images `dvc plots` renders) and `pdf/` belong to the report alone: files there that this
run did not produce are removed, so the index never sits next to stale figures. Every table
is a section (`report.sections`) written by one writer (`report.writer`).

With a workspace folder (`--workspace reports`), two more things are written there: the
headline metrics of THIS report as `metrics/<dataset>-<arch>-<method>.json` (what `dvc metrics` and
`dvc exp show` compare; they follow the workspace, like params.yaml and dvc.lock) and
`README.md`, an index of every report folder found under it.
"""

from __future__ import annotations

import datetime
import json
import shutil
from pathlib import Path

import pandas as pd

from weightswitch.atomic import write_text
from weightswitch.catalog import method_order
from weightswitch.errors import WeightswitchError
from weightswitch.provenance import project_root
from weightswitch.report.analysis import ANALYSIS_FILE, load_analysis
from weightswitch.report.collect import (
    STATUS_DIVERGED,
    STATUS_MISSING,
    STATUS_OK,
    Collection,
    collect,
    load_expected,
    read_yaml,
    with_expected,
)
from weightswitch.report.figures import write_figures
from weightswitch.report.frontier import report_points
from weightswitch.report.frontier_figure import frontier_figures
from weightswitch.report.index import (
    Entry,
    Index,
    commits,
    generated_at,
    git_commit,
    render,
    write_workspace_index,
)
from weightswitch.report.options import Log, ReportOptions, print_log
from weightswitch.report.ranking import ranking_figures
from weightswitch.report.records import META_FILE, RECORDS, read_meta, sync
from weightswitch.report.sections import clean, inline_summary, table_sections
from weightswitch.report.tables import GROUP, summary_table
from weightswitch.report.writer import write_section

STALE_SUFFIXES = {".png", ".pdf", ".md", ".csv", ".tex", ".json", ".tmp"}
OWNED = ("tables", "figures", "pdf")  # sub-folders that belong to one report alone
HEADLINE = (
    ("acc", "test_acc_pct_mean"),
    ("acc_std", "test_acc_pct_std"),
    ("sparsity", "fc_sparsity_pct_mean"),
)
GENERATED_LINE = "- Generated: "  # the README's one line that names the moment of generation
HEADLINE_KEYS = ("acc", "acc_std", "sparsity", "n", "epochs", "train_images")


def gather(
    results: Path,
    profile: str | None,
    expected: Path | None,
    log: Log = print_log,
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


def _profiles(col: Collection) -> pd.DataFrame:
    rows = []
    for profile, g in col.runs.groupby("profile"):
        ok = g[g["status"] == STATUS_OK]
        pairs = sorted({f"{d}/{a}" for d, a in zip(g["dataset"], g["arch"], strict=True)})
        rows.append(
            {
                "profile": profile,
                "grid": col.grid or "—",
                "dataset/arch": ", ".join(pairs),
                "methods": ", ".join(method_order(g["method"].unique())),
                "seeds": ", ".join(map(str, sorted(ok["seed"].unique()))) or "—",
                "runs ok": len(ok),
                "missing": int((g["status"] == STATUS_MISSING).sum()),
                "diverged": int((g["status"] == STATUS_DIVERGED).sum()),
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


def keep_analysis(col: Collection, records: Path) -> None:
    """Copy conf/analysis.yaml into the records when its study is this report's grid and
    profile, so the primary table rebuilds from the records alone (a fresh clone, any CWD)."""
    path = project_root() / ANALYSIS_FILE
    if not path.is_file():
        return
    study = load_analysis(path).study
    if col.grid == study["grid"] and study["profile"] in set(col.runs["profile"]):
        shutil.copyfile(path, records / ANALYSIS_FILE.name)


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


def write_headline(col: Collection, summary: pd.DataFrame, folder: Path, log: Log) -> list[Path]:
    """`folder/<dataset>-<arch>-<method>.json` = {acc, acc_std, sparsity, n, epochs,
    train_images}: the same few keys for every grid and profile, so `dvc metrics show` is a
    tall, narrow table (one row per pair and method) and `dvc metrics diff` compares the same
    quantity across profiles."""
    budget = col.ok.groupby(list(GROUP)).agg(
        epochs=("epochs", "max"), train_images=("train_size", "max")
    )
    several = summary["profile"].nunique() > 1  # then the profile leads the file name
    written = []
    for r in summary.itertuples(index=False):
        key = (r.profile, r.dataset, r.arch, r.method)
        body = {name: clean(getattr(r, column)) for name, column in HEADLINE}
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


def _extend(figures: dict[str, list[Entry]], more: dict[str, list[Entry]]) -> None:
    for key, entries in more.items():
        figures.setdefault(key, []).extend(entries)


def _records(results: Path | None, out: Path, opt: ReportOptions) -> tuple[Path, str | None]:
    """The report's records folder and grid: the run folders' small records copied there
    (report/records.py), or, to rebuild, the committed ones."""
    if opt.rebuild:
        records = out / RECORDS
        if not (records / META_FILE).is_file():
            raise WeightswitchError(
                f"{out} holds no {RECORDS}/ to rebuild from (a report "
                "written before records were kept: rerun its pipeline)"
            )
        return records, opt.grid
    if results is None:
        raise WeightswitchError("report: no results folder to read the runs from")
    expected = Path(opt.expected) if opt.expected else None
    grid = opt.grid or _grid_name(expected, [opt.profile] if opt.profile else [])
    gather(Path(results), opt.profile, expected, lambda msg: None, grid)  # usable? else stop
    frontier = Path(opt.frontier) if opt.frontier else None
    return sync(Path(results), frontier, out, opt.profile, expected, grid, opt.log), grid


def build_report(results: Path | None, out: Path, options: ReportOptions | None = None) -> Path:
    """Run the whole report; return the path of the README index.

    The run folders' small records (`results`, and the frontier runs of `options.frontier`)
    are first copied into `<out>/records` (report/records.py) and the report is built from
    those alone; `options.rebuild` skips the copy and rebuilds from the committed records (a
    fresh clone has no run folders)."""
    opt, out = options or ReportOptions(), Path(out)
    log = opt.log
    records, grid = _records(results, out, opt)
    meta = read_meta(records)
    runs_root = records / "runs"
    frontier_root = records / "frontier" if (records / "frontier").is_dir() else None
    wanted = records / META_FILE if meta.get("expected") else None
    col = gather(runs_root, opt.profile, wanted, log, grid or meta.get("grid"))
    summary = summary_table(col)
    if opt.workspace is not None:
        write_headline(col, summary, Path(opt.workspace) / "metrics", log)
    figures, notes = write_figures(col, out, records, log)
    points = report_points(col, frontier_root)
    frontier = frontier_figures(col, points, out, log)  # drawn first, listed after rankings
    _extend(figures, ranking_figures(col, points, out, log))
    _extend(figures, frontier)
    if not opt.rebuild:
        keep_analysis(col, records)
    report = table_sections(col, summary, points, frontier_root, records)
    tables = [write_section(section, out, log) for section in report.sections]
    for w in col.warnings:
        opt.warn(w)
    index = Index(
        results=str(runs_root),
        profiles=_profiles(col),
        tables=tables,
        figures=figures,
        notes=notes,
        warnings=col.warnings,
        inline_summary=inline_summary(col, summary),
        conclusions=report.conclusions,
        primary=report.primary,
        command=opt.command,
        grid=col.grid,
        run_commits=commits(col.runs["git_commit"]),
        recorded=_recorded(meta),
    )
    readme = _write_readme(out / "README.md", render(index, out, git_commit(), generated_at()))
    written = [f for e in tables for f in e.files]
    written += [f for es in figures.values() for e in es for f in e.files]
    _prune_stale(out, [*written, readme], log)
    if opt.workspace is not None:
        log(f"wrote {write_workspace_index(Path(opt.workspace))}")
    log(
        f"wrote {readme} (index of {len(tables)} tables, {sum(map(len, figures.values()))} figures)"
    )
    return readme
