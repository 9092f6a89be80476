"""`weightswitch.options`: every command's flags come from typed dataclass fields (issue 39)."""

from __future__ import annotations

import ast
import shlex
from dataclasses import dataclass
from pathlib import Path

import pytest

from weightswitch.cli import CompactParser, _build
from weightswitch.options import option, parse_options, read_options

SRC = Path(__file__).resolve().parents[1] / "src" / "weightswitch"
GENERATOR = SRC / "options.py"


def test_no_flag_is_written_by_hand() -> None:
    """`add_argument` is called in one place: the generator. A command that adds a flag by
    hand fails here; declare it as an `option()` field of the command's dataclass."""
    calls = [
        f"{path.relative_to(SRC)}:{node.lineno}"
        for path in sorted(SRC.rglob("*.py"))
        if path != GENERATOR
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "add_argument"
    ]
    assert calls == []
    assert "add_argument(" in GENERATOR.read_text(encoding="utf-8")  # the scan sees calls


@dataclass(frozen=True)
class Example:
    name: str = option("a positional", positional=True)
    count: int = option("an int", default=3)
    rate: float = option("a float", default=0.5)
    folder: Path | None = option("a path", default=None)
    label: str | None = option("a string", default=None)
    sizes: list[int] = option("ints", default_factory=lambda: [1, 2], nargs="+")
    mode: str = option("a choice", default="fast", choices=("fast", "slow"))
    verbose: bool = option("a switch", default=False)
    cached: bool = option("on by default", default=True, negatable=True)
    keys: list[str] = option("repeatable", default_factory=list, append=True)
    not_a_flag: int = 7  # no option(): not on the command line, its default in the instance


def _parse(argv: list[str]) -> Example:
    return parse_options(CompactParser(prog="example"), Example, argv)


def test_types_parse_into_a_typed_instance() -> None:
    assert _parse(["x"]) == Example(name="x")
    argv = "x --count 4 --rate 0.25 --folder d --label L --sizes 8 16 --mode slow --verbose"
    got = _parse(shlex.split(argv + " --no-cached --keys a=1 --keys b=2"))
    assert got == Example(
        name="x",
        count=4,
        rate=0.25,
        folder=Path("d"),
        label="L",
        sizes=[8, 16],
        mode="slow",
        verbose=True,
        cached=False,
        keys=["a=1", "b=2"],
    )
    assert _parse(["y"]).sizes == [1, 2] and _parse(["y"]).sizes is not _parse(["y"]).sizes


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["x", "--count", "many"], "argument --count: invalid int value: 'many'"),
        (["x", "--mode", "medium"], "argument --mode: invalid choice: 'medium'"),
        (["x", "--cont", "2"], "unrecognized arguments: --cont 2; did you mean --count?"),
    ],
)
def test_a_bad_value_is_one_line(argv, message, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        _parse(argv)
    assert info.value.code == 2
    first, where = capsys.readouterr().err.splitlines()
    assert first.startswith(f"example: error: {message}"), first
    assert where == "example: options: example --help"


def test_an_option_without_default_is_required(capsys: pytest.CaptureFixture[str]) -> None:
    @dataclass(frozen=True)
    class Needs:
        arch: str = option("required")

    with pytest.raises(SystemExit):
        parse_options(CompactParser(prog="needs"), Needs, [])
    assert "the following arguments are required: --arch" in capsys.readouterr().err
    assert parse_options(CompactParser(prog="needs"), Needs, ["--arch", "a"]) == Needs("a")


def test_a_dataclass_field_gives_its_options_in_place() -> None:
    """`report`'s flags: its paths, then `ReportOptions`' fields, then `--rebuild`."""
    from weightswitch.report.cli import ReportCommand
    from weightswitch.report.options import ReportOptions

    _, commands = _build()
    parser = commands["report"]
    flags = [a.option_strings[0] for a in parser._actions if a.option_strings][1:]
    assert flags == [
        "--results",
        "--out",
        "--profile",
        "--expected",
        "--frontier",
        "--grid",
        "--workspace",
        "--rebuild",
    ]
    command = read_options(parser.parse_args(["--grid", "g", "--rebuild", "r"]), ReportCommand)
    assert command.report == ReportOptions(grid="g") and command.rebuild == Path("r")
