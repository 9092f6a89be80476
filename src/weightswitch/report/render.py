"""How the report writes numbers and tables as text: number formats, GitHub Markdown pipe
tables and booktabs LaTeX tables.

The tables are computed elsewhere (`report.tables`, `report.paired`, ...); these functions only
format what they are given, so every table of every report reads alike ('—' where a value
is undefined, 'mean ± std' over seeds, signed differences with their sign).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import pandas as pd

DASH = "—"  # an undefined value: the std of a single run, a metric a method lacks


def fmt_stat(
    mean: float, std: float, n: int, digits: int = 2, empty: str = "missing", signed: bool = False
) -> str:
    """'mean ± std' ('+mean ± std' when `signed`, for differences); '—' for the std of a
    single run; `empty` ('missing', or 'diverged' when every run of the group diverged) when
    there is no value."""
    if n == 0 or mean is None or (isinstance(mean, float) and math.isnan(mean)):
        return empty if n == 0 else DASH
    spread = DASH if std is None or math.isnan(std) else f"{std:.{digits}f}"
    return f"{mean:{'+' if signed else ''}.{digits}f} ± {spread}"


def fmt_num(value: float, digits: int = 2, signed: bool = False) -> str:
    """`value` with `digits` decimals ('+' in front of a positive difference when `signed`);
    '—' for None or NaN."""
    if value is None or math.isnan(value):
        return DASH
    return f"{value:+.{digits}f}" if signed else f"{value:.{digits}f}"


def epochs_text(epochs: float) -> str:
    """' (12 ep)': a method's total training epochs in a comparison's name."""
    return "" if epochs is None or math.isnan(epochs) else f" ({epochs:g} ep)"


def markdown(df: pd.DataFrame, headers: Mapping[str, str] | None = None) -> str:
    """A GitHub pipe table (no external dependency)."""
    headers = headers or {}
    names = [headers.get(c, c) for c in df.columns]

    def cell(v: object) -> str:
        return str(v).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(names) + " |", "|" + "|".join("---" for _ in names) + "|"]
    for row in df.itertuples(index=False):
        lines.append("| " + " | ".join(cell(v) for v in row) + " |")
    return "\n".join(lines) + "\n"


_TEX = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\^{}",
}
_TEX_SYMBOLS = {"±": r"$\pm$", "—": "---", "×": r"$\times$", "Δ": r"$\Delta$", "−": "--"}


def tex_escape(text: object) -> str:
    out = "".join(_TEX.get(ch, ch) for ch in str(text))
    for sym, rep in _TEX_SYMBOLS.items():
        out = out.replace(sym, rep)
    return out


def latex(
    df: pd.DataFrame,
    caption: str,
    label: str,
    headers: Mapping[str, str] | None = None,
    group: Sequence[str] = (),
    align: str | None = None,
) -> str:
    """A booktabs table; a \\midrule separates rows whose `group` columns change."""
    headers = headers or {}
    align = align or "".join("l" if df[c].dtype == object else "r" for c in df.columns)
    lines = [
        r"\begin{table}[t]",
        r"\centering\small",
        rf"\caption{{{tex_escape(caption)}}}",
        rf"\label{{{label}}}",
        rf"\begin{{tabular}}{{{align}}}",
        r"\toprule",
        " & ".join(tex_escape(headers.get(c, c)) for c in df.columns) + r" \\",
        r"\midrule",
    ]
    previous = None
    for _, row in df.iterrows():
        key = tuple(row[c] for c in group)
        if previous is not None and key != previous:
            lines.append(r"\midrule")
        previous = key
        lines.append(" & ".join(tex_escape(v) for v in row) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}", r"\end{table}", ""]
    return "\n".join(lines)
