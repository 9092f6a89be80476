"""`weightswitch params`: choose the workspace's grid and profile, compose params.yaml.

DVC's Hydra composition rebuilds params.yaml from conf/config.yaml on every
`dvc exp run -S key=value`. So the workspace's choice of grid and profile lives in the
defaults list of conf/config.yaml itself, which this command rewrites: a later one-key
override then stays on that grid x profile instead of falling back to another grid.
Composition uses DVC's own code, so the file written is exactly what `dvc exp run` writes.
"""

from __future__ import annotations

import argparse
import copy
import os
import re
import tempfile
from pathlib import Path
from typing import Any

from weightswitch.atomic import write_text
from weightswitch.errors import UsageError, unknown_choice

GROUPS = ("grid", "profile")
# `  - grid: fashion` in the defaults list of conf/config.yaml
_DEFAULT_LINE = r"^(?P<lead>\s*-\s*{group}\s*:\s*)(?P<name>[\w.-]+)(?P<tail>.*)$"


def choices(conf_dir: Path, group: str) -> list[str]:
    """Names of the configs in one Hydra group folder (conf/<group>/*.yaml)."""
    return sorted(p.stem for p in (conf_dir / group).glob("*.yaml"))


def find_conf_dir() -> Path:
    """conf/ of the project the CWD is in, else of the checkout this code runs from."""
    from weightswitch.provenance import project_root, source_root

    for root in (project_root(), source_root()):
        if (root / "conf" / "config.yaml").is_file():
            return root / "conf"
    raise UsageError(
        "no --params FILE given and no conf/config.yaml found in this project; "
        "pass --params FILE or run from the project root"
    )


def default_params(
    conf_dir: Path | None = None, profile: str | None = None, grid: str | None = None
) -> dict[str, Any]:
    """What conf/ composes with its own defaults (or with `profile` and/or `grid` instead of
    the workspace's): the settings of a bare `weightswitch train`, so that it runs exactly
    what the pipeline runs for the same grid x profile (one source of defaults, not a second
    set in the dataclasses)."""
    from weightswitch.config import load_params

    conf_dir = conf_dir or find_conf_dir()
    with tempfile.TemporaryDirectory(prefix="weightswitch-params-") as tmp:
        out = Path(tmp) / "params.yaml"
        compose_params(conf_dir, out, grid, profile, [])
        return load_params(out)


# ------------------------------------------------------------ one key syntax: dotted keys

# Top-level keys of a params file that hold settings (`recipe.epochs`, `archs.lenet5.epochs`,
# `methods.switcher.phase_length`, `seeds`, ...): the keys both `weightswitch params
# KEY=VALUE` and `weightswitch train --set KEY=VALUE` take.
PARAMS_HEADS = (
    "recipe",
    "archs",
    "methods",
    "data",
    "seeds",
    "datasets",
    "models",
    "ablations",
    "frontier",
)


def set_dotted(tree: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, last = dotted.split(".")
    for part in parents:
        if not isinstance(tree.get(part), dict):
            tree[part] = {}
        tree = tree[part]
    tree[last] = value


def check_key(params: dict[str, Any], dotted: str, value: Any) -> bool:
    """Whether params file key `dotted` exists in `params` (False: absent but valid there);
    a one-line UsageError with the closest valid key when a params file may not hold it."""
    from weightswitch.config import check_params

    node: Any = params
    parts = dotted.split(".")
    for i, part in enumerate(parts):
        if isinstance(node, dict) and part in node:
            node = node[part]
            continue
        probe = copy.deepcopy(params)
        set_dotted(probe, dotted, value)
        try:
            check_params(probe, "params")
        except UsageError as exc:
            close = re.search(r"did you mean '([^']+)'\?", str(exc))
            if close is None:
                raise UsageError(str(exc).removeprefix("params: ")) from None
            better = ".".join([*parts[:i], close.group(1), *parts[i + 1 :]])
            raise UsageError(f"unknown key {dotted!r}; did you mean {better!r}?") from None
        return False
    return True


def apply_overrides(params: dict[str, Any], items: dict[str, Any]) -> dict[str, Any]:
    """`params` with dotted params-file keys set (`recipe.train_limit: None` unsets it)."""
    out = copy.deepcopy(params)
    for dotted, value in items.items():
        check_key(out, dotted, value)
        set_dotted(out, dotted, value)
    return out


def _hydra_overrides(conf_dir: Path, grid: str, profile: str, overrides: list[str]) -> list[str]:
    """Check `KEY=VALUE` overrides against what conf/ composes for `grid` x `profile` (a typo
    names the closest key) and add Hydra's `+` to a valid key the composed file lacks."""
    import yaml

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
        try:
            value = yaml.safe_load(text)
        except yaml.YAMLError:
            value = text
        out.append(item if check_key(base, key, value) else f"+{item}")
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
        valid = choices(conf_dir, group)
        if name not in valid:
            raise unknown_choice(group, name, valid)
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


def compose_params(
    conf_dir: Path, out: Path, grid: str | None, profile: str | None, overrides: list[str]
) -> None:
    """Write params.yaml for `grid` x `profile` (None: conf/config.yaml's default)."""
    from dvc.utils.hydra import compose_and_dump

    chosen = []
    for group, name in (("grid", grid), ("profile", profile)):
        if name is None:
            continue
        valid = choices(conf_dir, group)
        if name not in valid:
            raise unknown_choice(group, name, valid)
        chosen.append(f"{group}={name}")
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".params-", suffix=".yaml", dir=out.parent)
    os.close(fd)
    try:
        compose_and_dump(
            tmp,
            str(conf_dir.resolve()),
            None,
            "config",
            str(conf_dir.resolve()),
            [*chosen, *overrides],
        )
        os.replace(tmp, out)
    except Exception as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, UsageError):
            raise
        raise UsageError(f"cannot compose params: {exc}".splitlines()[0]) from exc


def run(args: argparse.Namespace) -> int:
    conf_dir = Path(args.conf)
    current = workspace_choice(conf_dir)
    grid, profile = args.grid or current["grid"], args.profile or current["profile"]
    compose_params(
        conf_dir,
        Path(args.out),
        grid,
        profile,
        _hydra_overrides(conf_dir, grid, profile, args.overrides),
    )
    # only the workspace's own params.yaml moves the workspace default (--out elsewhere: no)
    workspace = Path(args.out).resolve() == conf_dir.resolve().parent / "params.yaml"
    changed = workspace and set_workspace(conf_dir, grid, profile)
    note = f"; {conf_dir}/config.yaml now defaults to it" if changed else ""
    if changed:
        from weightswitch.pairlock import switch

        moved = switch(
            conf_dir.resolve().parent, (current["grid"], current["profile"]), (grid, profile)
        )
        note += f"; {moved}" if moved else ""
    print(f"wrote {args.out} (grid={grid}, profile={profile}){note}")
    if args.overrides:
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
    p.add_argument("--grid", default=None, help="which models (conf/grid/*.yaml)")
    p.add_argument("--profile", default=None, help="which budget (conf/profile/*.yaml)")
    p.add_argument("--conf", default="conf", help="config folder (default: conf)")
    p.add_argument("--out", default="params.yaml", help="file to write (default: params.yaml)")
    p.add_argument(
        "overrides",
        nargs="*",
        metavar="KEY=VALUE",
        help="params file keys, dotted as in `train --set`: recipe.epochs=3 'seeds=[0,1]' "
        "recipe.train_limit=null (unsets)",
    )
    p.set_defaults(func=run)
    return p
