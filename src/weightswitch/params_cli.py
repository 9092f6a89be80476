"""`weightswitch params`: choose the workspace's grid and profile, compose params.yaml.

DVC's Hydra composition rebuilds params.yaml from conf/config.yaml on every
`dvc exp run -S key=value`. So the workspace's choice of grid and profile lives in the
defaults list of conf/config.yaml itself, which this command rewrites: a later one-key
override then stays on that grid x profile instead of falling back to another grid.
Composition uses DVC's own code, so the file written is exactly what `dvc exp run` writes.
"""

from __future__ import annotations

import argparse
import re
from dataclasses import dataclass
from pathlib import Path

from weightswitch.atomic import write_text
from weightswitch.config import (
    check_group,
    check_key,
    compose_params,
    default_params,
    parse_value,
)
from weightswitch.errors import UsageError
from weightswitch.options import add_options, option, read_options

GROUPS = ("grid", "profile")
# `  - grid: fashion` in the defaults list of conf/config.yaml
_DEFAULT_LINE = r"^(?P<lead>\s*-\s*{group}\s*:\s*)(?P<name>[\w.-]+)(?P<tail>.*)$"


@dataclass(frozen=True)
class ParamsOptions:
    """`params`'s options."""

    grid: str | None = option("which models (conf/grid/*.yaml)", default=None)
    profile: str | None = option("which budget (conf/profile/*.yaml)", default=None)
    conf: str = option("config folder (default: conf)", default="conf")
    out: str = option("file to write (default: params.yaml)", default="params.yaml")
    overrides: list[str] = option(
        "params file keys, dotted as in `train --set`: recipe.epochs=3 'seeds=[0,1]' "
        "recipe.train_limit=null (unsets)",
        positional=True,
        default_factory=list,
        metavar="KEY=VALUE",
    )


def _hydra_overrides(conf_dir: Path, grid: str, profile: str, overrides: list[str]) -> list[str]:
    """Check `KEY=VALUE` overrides against what conf/ composes for `grid` x `profile` (a typo
    names the closest key) and add Hydra's `+` to a valid key the composed file lacks."""
    plain = [o for o in overrides if re.match(r"^[A-Za-z_][\w.-]*=", o)]
    if not plain:
        return overrides
    base = default_params(conf_dir, profile=profile, grid=grid)
    out = []
    for item in overrides:
        key, _, text = item.partition("=")
        if item not in plain or key in GROUPS:
            out.append(item)
            continue
        out.append(item if check_key(base, key, parse_value(text)) else f"+{item}")
    return out


def _config(conf_dir: Path) -> Path:
    path = conf_dir / "config.yaml"
    if not path.is_file():
        raise UsageError(f"no config.yaml in {conf_dir}; pass --conf DIR")
    return path


def workspace_choice(conf_dir: Path) -> dict[str, str]:
    """The grid and profile named in conf/config.yaml's defaults list."""
    text = _config(conf_dir).read_text(encoding="utf-8")
    found = {}
    for group in GROUPS:
        match = re.search(_DEFAULT_LINE.format(group=group), text, flags=re.M)
        if match is None:
            raise UsageError(f"{conf_dir}/config.yaml: no '- {group}: NAME' in its defaults list")
        found[group] = match["name"]
    return found


def set_workspace(conf_dir: Path, grid: str, profile: str) -> bool:
    """Name `grid` and `profile` in conf/config.yaml's defaults; True if the file changed."""
    path = _config(conf_dir)
    old = path.read_text(encoding="utf-8")
    new = old
    for group, name in (("grid", grid), ("profile", profile)):
        check_group(conf_dir, group, name)
        new = re.sub(
            _DEFAULT_LINE.format(group=group),
            lambda m, n=name: f"{m['lead']}{n}{m['tail']}",
            new,
            count=1,
            flags=re.M,
        )
    if new != old:
        write_text(path, new)
    return new != old


def run(args: argparse.Namespace) -> int:
    options = read_options(args, ParamsOptions)
    conf_dir = Path(options.conf)
    current = workspace_choice(conf_dir)
    grid, profile = options.grid or current["grid"], options.profile or current["profile"]
    compose_params(
        conf_dir,
        Path(options.out),
        grid,
        profile,
        _hydra_overrides(conf_dir, grid, profile, options.overrides),
    )
    # only the workspace's own params.yaml moves the workspace default (--out elsewhere: no)
    workspace = Path(options.out).resolve() == conf_dir.resolve().parent / "params.yaml"
    changed = workspace and set_workspace(conf_dir, grid, profile)
    note = f"; {conf_dir}/config.yaml now defaults to it" if changed else ""
    if changed:
        from weightswitch.pairlock import switch

        moved = switch(
            conf_dir.resolve().parent, (current["grid"], current["profile"]), (grid, profile)
        )
        note += f"; {moved}" if moved else ""
    print(f"wrote {options.out} (grid={grid}, profile={profile}){note}")
    if options.overrides:
        print(
            "note: the extra overrides are in params.yaml only; `dvc exp run -S` recomposes from "
            f"{conf_dir}/ (put lasting changes into {conf_dir}/profile/{profile}.yaml)"
        )
    return 0


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "params",
        help="choose the workspace's grid and profile; compose params.yaml from conf/",
        description=(
            "Compose params.yaml from conf/config.yaml + conf/grid/G + conf/profile/P, and make "
            "G x P the workspace default in conf/config.yaml (so `dvc exp run -S key=value` "
            "stays on it). Without --grid/--profile: the workspace's current choice."
        ),
    )
    add_options(p, ParamsOptions)
    p.set_defaults(func=run)
    return p
