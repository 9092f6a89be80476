"""Issue 39: every reference in the code and the docs points at something that exists.

A reference names a file (`docs/x.md`), a section of one (`docs/x.md, "Heading"`, `README
"Heading"`, a Markdown link `x.md#anchor`), and the design the code cites lives in the
repository (docs/design.md), so "DESIGN 1.3" (a document outside it) is refused."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
SOURCES = [
    *sorted((PROJECT / "src").rglob("*.py")),
    *sorted((PROJECT / "studies").rglob("*.py")),
    *sorted((PROJECT / "scripts").rglob("*.py")),
    *sorted((PROJECT / "docs").glob("*.md")),
    *sorted((PROJECT / "conf").rglob("*.yaml")),
    PROJECT / "README.md",
    PROJECT / "Makefile",
    PROJECT / ".gitignore",
    PROJECT / "dvc.yaml",
]
OUTSIDE = re.compile(r"\bDESIGN\s+\d")
NAMED = re.compile(r'((?:docs/)?[\w-]+\.md|README)(?:\.md)?,?\s+"([^"]+)"')
LINK = re.compile(r"\]\(([^)\s]+?\.md)(?:#([\w-]+))?\)")
BARE = re.compile(r"\bdocs/[\w-]+\.md\b")


@cache
def headings(path: Path) -> tuple[str, ...]:
    text = path.read_text(encoding="utf-8")
    text = re.sub(r"```.*?```", "", text, flags=re.S)
    return tuple(m.group(1).strip() for m in re.finditer(r"^#{1,6}\s+(.+)$", text, re.M))


def slug(heading: str) -> str:
    """GitHub's anchor of a heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower().replace("`", ""))
    return text.replace(" ", "-")


def _doc(name: str, source: Path) -> Path:
    if name == "README":
        return PROJECT / "README.md"
    for base in (source.parent, PROJECT, PROJECT / "docs"):
        if (base / name).is_file():
            return base / name
    return PROJECT / name


def _problems(source: Path) -> list[str]:
    text = source.read_text(encoding="utf-8")
    joined = re.sub(r"\n\s*(#|\*)?\s*", " ", text)  # a reference may wrap across comment lines
    where = source.relative_to(PROJECT)
    found = [
        f"{where}: {m.group(0)!r} cites a document outside the repository"
        for m in OUTSIDE.finditer(text)
    ]
    for m in NAMED.finditer(joined):
        doc = _doc(m.group(1) if m.group(1).endswith(".md") else "README", source)
        if not doc.is_file():
            found.append(f"{where}: {m.group(1)} does not exist")
        elif not any(h.startswith(m.group(2).strip()) for h in headings(doc)):
            found.append(f"{where}: {doc.name} has no heading {m.group(2)!r}")
    if source.suffix == ".md":
        for m in LINK.finditer(text):
            target, anchor = m.group(1), m.group(2)
            if target.startswith("http"):
                continue
            doc = (source.parent / target).resolve()
            if not doc.is_file():
                found.append(f"{where}: link to missing {target}")
            elif anchor and anchor not in {slug(h) for h in headings(doc)}:
                found.append(f"{where}: {target} has no heading #{anchor}")
    for m in BARE.finditer(text):
        if not (PROJECT / m.group(0)).is_file():
            found.append(f"{where}: {m.group(0)} does not exist")
    return found


def test_every_reference_points_at_something_that_exists() -> None:
    problems = [p for source in SOURCES if source.is_file() for p in _problems(source)]
    assert not problems, "\n".join(problems)


def test_the_check_catches_what_it_should(tmp_path: Path) -> None:
    doc = PROJECT / "docs" / "design.md"
    assert "Alternating training" in headings(doc)
    assert slug("The pre-registered study, `mnist` x `long` (issue 37, running)") == (
        "the-pre-registered-study-mnist-x-long-issue-37-running"
    )
    bad = tmp_path / "bad.py"
    bad.write_text('"""See DESIGN 1.3 and docs/design.md, "No such heading" and docs/nope.md."""')
    fake = PROJECT / "src" / "_tmp_reference_probe.py"
    fake.write_text(bad.read_text())
    try:
        problems = _problems(fake)
    finally:
        fake.unlink()
    assert len(problems) == 3, problems
