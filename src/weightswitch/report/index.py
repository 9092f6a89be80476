"""What a report says about itself: its README (the index of every table and figure, with
provenance and citations), the labels every table and figure carries (budget, reduced budget,
partial), and reports/README.md, the index of every report folder."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from weightswitch import provenance
from weightswitch.atomic import write_text
from weightswitch.report.collect import Collection
from weightswitch.report.render import markdown

REDUCED_BUDGET = ("quick", "cpu", "smoke")  # every profile but `paper`

BIBTEX = r"""@misc{weightswitch,
  author       = {{weightswitch contributors}},
  title        = {weightswitch: a reproducible benchmark of switcher networks that sparsify
                  fully connected layers, against pruning baselines},
  howpublished = {Software, version 0.1.0},
  note         = {Commit COMMIT; results: grid GRID, profile PROFILE},
  year         = {YEAR}
}

@misc{han2021explore,
  author        = {Han, M. and Liu, X. and Hai, Z. and Li, Z.},
  title         = {Explore the Knowledge contained in Network Weights to Obtain Sparse
                   Neural Networks},
  year          = {2021},
  eprint        = {2103.15590},
  archivePrefix = {arXiv},
  url           = {https://arxiv.org/abs/2103.15590}
}

@misc{han2021mining,
  author        = {Han, Mengqiao and Liu, Xiabi and Hai, Zhaoyang and Duan, Xin},
  title         = {Mining the Weights Knowledge for Optimizing Neural Network Structures},
  year          = {2021},
  eprint        = {2110.05954},
  archivePrefix = {arXiv},
  url           = {https://arxiv.org/abs/2110.05954}
}

@inproceedings{han2015learning,
  author    = {Han, Song and Pool, Jeff and Tran, John and Dally, William J.},
  title     = {Learning both Weights and Connections for Efficient Neural Networks},
  booktitle = {Advances in Neural Information Processing Systems (NIPS)},
  volume    = {28},
  year      = {2015},
  url       = {https://arxiv.org/abs/1506.02626}
}
"""


def bibtex(commit: str, when: datetime, grid: str | None, profiles: str) -> str:
    """The BibTeX block with this report's commit, grid and profile(s) filled in."""
    fills = {
        "COMMIT": commit,
        "YEAR": str(when.year),
        "GRID": grid or "unknown",
        "PROFILE": profiles or "unknown",
    }
    text = BIBTEX
    for key, value in fills.items():
        text = text.replace(key, value)
    return text


def budget_label(profile: str) -> str:
    """A visible tag for reduced-budget profiles wherever their numbers appear."""
    return " (reduced budget: not study results)" if profile in REDUCED_BUDGET else ""


def budget_text(col: Collection, profile: str) -> str:
    """What the runs of one profile were given: epochs, training images, seeds, grid."""
    ok = col.ok[col.ok["profile"] == profile]

    def values(column: str) -> str:
        found = sorted({int(v) for v in ok[column].dropna()})
        if not found:
            return "?"
        return f"{found[0]:,}" if len(found) == 1 else f"{found[0]:,}-{found[-1]:,}"

    seeds = sorted(int(s) for s in ok["seed"].unique())
    # runs per dataset/arch/method: a study may give some methods more seeds than others
    per = sorted(set(ok.groupby(["dataset", "arch", "method"])["seed"].nunique()))
    count = f"{per[0]}-{per[-1]} seeds per method" if len(per) > 1 else f"{len(seeds)} seed(s)"
    grid = f"grid {col.grid}, " if col.grid else ""
    return (
        f"{grid}profile {profile}{budget_label(profile)}: {values('epochs')} epochs per run, "
        f"{values('train_size')} training images, {count} ({', '.join(map(str, seeds))})"
    )


def source_text(col: Collection, profile: str | None = None) -> str:
    """Where a caption's numbers come from: the results folder (of `profile`, where it has
    one) and the grid."""
    where = col.root / profile if profile and (col.root / profile).is_dir() else col.root
    return f"{where}" + (f" (grid {col.grid})" if col.grid else "")


@dataclass(frozen=True)
class RunCount:
    """How complete a report is: runs with results, runs without (expected, or started and
    left unusable) and diverged runs (a result of their inputs, but no point to draw)."""

    ok: int
    missing: int
    diverged: int

    @classmethod
    def of(cls, runs: pd.DataFrame, profile: str | None = None) -> RunCount:
        """From a runs table with a `status` column (a Collection's runs, or runs.csv)."""
        if profile is not None:
            runs = runs[runs["profile"] == profile]
        status = runs["status"].value_counts()
        return cls(*(int(status.get(s, 0)) for s in ("ok", "missing", "diverged")))

    @property
    def total(self) -> int:
        return self.ok + self.missing + self.diverged

    @property
    def partial(self) -> bool:
        return self.missing > 0

    def summary(self) -> str:
        """'2 of 54 runs (52 missing)'."""
        more = f", {self.diverged} diverged" if self.diverged else ""
        return f"{self.ok} of {self.total} runs ({self.missing} missing{more})"

    def label(self) -> str:
        """'' for a complete report, else e.g. 'partial report: 2 of 54 runs (52 missing)'."""
        return f"partial report: {self.summary()}" if self.partial else ""

    def cell(self) -> str:
        """The index's runs column: '38', or '2 of 54 (partial)'."""
        return f"{self.ok} of {self.total} (partial)" if self.partial else str(self.ok)


def commits(values: pd.Series) -> list[str]:
    """The distinct code commits of a runs table's `git_commit` column, in full: a run from a
    tree with uncommitted changes keeps its '-dirty' suffix."""
    return sorted({str(c) for c in values.dropna() if str(c).strip()})


@dataclass
class Entry:
    """One indexed artefact: a table (several formats) or a figure (PNG + PDF)."""

    title: str
    caption: str
    files: list[Path]
    image: Path | None = None  # PNG shown inline


@dataclass
class Index:
    results: str
    profiles: pd.DataFrame  # profile, pairs, methods, seeds, ok, missing, commits, devices
    tables: list[Entry] = field(default_factory=list)
    figures: dict[str, list[Entry]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    inline_summary: str = ""
    conclusions: str = ""  # report.comparisons.conclusions: claims with their intervals
    primary: str = ""  # report.primary: the pre-registered family (empty: none for this report)
    command: str = "weightswitch report"
    grid: str | None = None
    # what the citation names: the runs' code commits and the year their records were taken
    # (both from the records, so a rebuild from git writes the same citation)
    run_commits: list[str] = field(default_factory=list)
    recorded: datetime | None = None


def git_commit(cwd: Path | None = None) -> str:
    """The code's commit (with '-dirty' when tracked files changed), or 'unavailable'."""
    return provenance.git_commit(cwd) or "unavailable"


def generated_at() -> datetime:
    """UTC now, or SOURCE_DATE_EPOCH when set (reproducible builds)."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch and epoch.isdigit():
        return datetime.fromtimestamp(int(epoch), tz=timezone.utc)
    return datetime.now(timezone.utc)


def _links(files: list[Path], out: Path) -> str:
    return ", ".join(f"[{f.name}]({f.relative_to(out).as_posix()})" for f in files)


def render(index: Index, out: Path, commit: str, when: datetime) -> str:
    """The README text."""
    lines = [
        "# weightswitch — generated reports",
        "",
        f"Generated by `{index.command}`; do not edit by hand (it is overwritten).",
        "",
        # one line for the moment of generation: a rebuild from the records changes only it
        f"- Generated: {when.strftime('%Y-%m-%d %H:%M:%S UTC')} by code commit `{commit}`",
        f"- Results read from: `{index.results}`",
        "- Run records (metrics.json, history.csv, config.json with each run's identity, the "
        "SHA-256 of its heavy artifacts, the gate data the figures draw): [records/](records/); "
        "rebuild every file here from them alone: "
        f"`weightswitch report --rebuild {out.as_posix()}`",
        "",
    ]
    reduced = [p for p in index.profiles["profile"] if p in REDUCED_BUDGET]
    lines += [
        "> **Reduced-budget numbers.** Everything labelled `quick` or `smoke` comes from "
        "reduced-budget runs (fewer epochs, data subsets, narrower heads): they check that the "
        "pipeline works end to end and are **not** results of the study. Only the `paper` "
        "profile follows the full training budget.",
        "",
    ]
    if reduced:
        lines += [f"> This report contains reduced-budget profile(s): {', '.join(reduced)}.", ""]
    for row in index.profiles.to_dict("records"):
        count = RunCount(int(row["runs ok"]), int(row["missing"]), int(row["diverged"]))
        if count.partial:
            lines += [
                f"> **Partial report** (profile `{row['profile']}`): {count.summary()}; "
                "every table and figure shows only the runs that finished.",
                "",
            ]
    lines += ["## Profiles, data and seeds", "", markdown(index.profiles), ""]
    if index.primary:
        lines += [
            "## Primary comparisons (pre-registered, Holm-corrected)",
            "",
            index.primary,
            "",
            "> **Everything below is EXPLORATORY**: not pre-registered, not corrected "
            "for multiplicity; it suggests, it does not establish.",
            "",
        ]
    else:
        lines += [
            "> **Exploratory report**: no pre-registered primary family covers it "
            "(conf/analysis.yaml); its intervals are not corrected for multiplicity.",
            "",
        ]
    if index.inline_summary:
        lines += ["## Summary", "", index.inline_summary, ""]
    if index.conclusions:
        lines += [
            "## Exploratory comparisons (paired by seed, 95% confidence intervals, uncorrected)",
            "",
            index.conclusions,
            "",
        ]
    lines += ["## Tables", ""]
    for e in index.tables:
        lines += [f"### {e.title}", "", e.caption, "", f"Files: {_links(e.files, out)}", ""]
    lines += ["## Figures", ""]
    for profile, entries in index.figures.items():
        lines += [f"### Profile `{profile}`{budget_label(profile)}", ""]
        for e in entries:
            lines += [f"#### {e.title}", ""]
            if e.image is not None:
                lines += [f"![{e.title}]({e.image.relative_to(out).as_posix()})", ""]
            lines += [e.caption, "", f"Files: {_links(e.files, out)}", ""]
    if index.notes:
        lines += ["## Notes", "", *(f"- {n}" for n in index.notes), ""]
    if index.warnings:
        lines += [
            "## Warnings from collecting the runs",
            "",
            *(f"- {w}" for w in index.warnings),
            "",
        ]
    lines += [
        "## References",
        "",
        "Published numbers are kept in their own table (`tables/references.*`, with a source "
        "column) and are never mixed into the measured columns. The slot for accuracies "
        "reported by the study's reference implementation is deliberately empty: they are not "
        "established here.",
        "",
        "## How to cite",
        "",
        "Cite the suite (the commit above pins the exact code) together with the source study "
        "and the pruning baseline:",
        "",
        "```bibtex",
        bibtex(
            ", ".join(index.run_commits) or commit,
            index.recorded or when,
            index.grid,
            ", ".join(index.profiles["profile"].astype(str)),
        ),
        "```",
        "",
    ]
    return "\n".join(lines)


BENCH = "bench"  # reports/bench/: measured by studies/, not by a grid's report stage


def _runs_table(folder: Path) -> pd.DataFrame | None:
    """A report folder's tables/runs.csv (one row per run, with status and git_commit)."""
    try:
        runs = pd.read_csv(folder / "tables" / "runs.csv", dtype={"git_commit": str})
    except (OSError, ValueError):
        return None
    return runs if {"status", "git_commit"} <= set(runs.columns) else None


def provenance_label(folder: Path, runs: pd.DataFrame | None) -> str:
    """How far a report can be trusted to regenerate: `regenerable` only when its run
    records are in git (records/: rebuilt by `weightswitch report --rebuild`) and every run
    was trained from a clean commit; otherwise `legacy`, with the reason."""
    reasons = []
    if not (folder / "records" / "report.json").is_file():
        reasons.append("no run records in git (built before records were kept)")
    if runs is not None:
        commits = runs["git_commit"].dropna().astype(str)
        dirty = int(commits.str.endswith("-dirty").sum())
        if dirty:
            reasons.append(f"{dirty} of {len(commits)} runs from a dirty tree")
    if reasons:
        return "legacy: " + "; ".join(reasons)
    return "regenerable: records in git, clean commits"


def write_workspace_index(workspace: Path) -> Path:
    """`workspace/README.md`: one line per report folder (<grid>/<profile>/README.md) found,
    with its run count (partial reports say so: '2 of 54 (partial)'), then the full code
    commits each report's runs were trained with, then the committed benchmark tables
    (bench/*.md, measured by studies/, not by DVC), so a reader of reports/ finds the seed
    spread next to the results it qualifies. Everything is read from the report folders
    themselves (tables/runs.csv), so the index can be rebuilt from what is in git."""
    rows, commit_lines = [], []
    for readme in sorted(workspace.glob("*/*/README.md")):
        grid, profile = readme.parent.parent.name, readme.parent.name
        if grid == BENCH:  # a report a benchmark file builds and links, not a grid's
            continue
        figures = len(list((readme.parent / "figures").glob("*.png")))
        runs = _runs_table(readme.parent)
        count = "?" if runs is None else RunCount.of(runs).cell()
        rows.append(
            f"| `{grid}` | `{profile}`{budget_label(profile)} | "
            f"[{grid}/{profile}/README.md]({grid}/{profile}/README.md) | {count} | {figures} | "
            f"{provenance_label(readme.parent, runs)} |"
        )
        if runs is not None:
            found = ", ".join(f"`{c}`" for c in commits(runs["git_commit"])) or "none recorded"
            commit_lines.append(f"- `{grid}/{profile}`: {found}")
    if commit_lines:
        commit_lines = [
            "",
            "Code commits of each report's runs (`-dirty`: trained from a tree "
            "with uncommitted changes):",
            "",
            *commit_lines,
        ]
    bench = [
        f"- [{BENCH}/{md.name}]({BENCH}/{md.name}): {_title(md)}"
        for md in sorted(workspace.glob(f"{BENCH}/*.md"))
    ]
    if bench:
        bench = [
            "",
            "Benchmarks (measured by `studies/`, not by `dvc repro`; each file says how):",
            "",
            *bench,
        ]
    text = "\n".join(
        [
            "# weightswitch — reports",
            "",
            "Generated by `weightswitch report`. One folder per grid x profile; regenerating "
            "one never touches another. `metrics/` holds the headline metrics of the "
            "workspace's latest report (the files `dvc metrics` and `dvc exp show` compare). "
            "runs: runs with results; a partial report has fewer than its grid expects "
            "(its figures say so too). provenance: a `regenerable` report keeps its runs' "
            "records in git and every run came from a clean commit (its lock: dvc.lock when "
            "it is the workspace's pair); a `legacy` one says what it lacks.",
            "",
            "| grid | profile | report | runs | figures | provenance |",
            "|---|---|---|---|---|---|",
            *rows,
            *commit_lines,
            *bench,
            "",
        ]
    )
    return write_text(workspace / "README.md", text)


def _title(path: Path) -> str:
    """A markdown file's first heading, else its stem."""
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("#"):
            return line.lstrip("#").strip()
    return path.stem
