"""`weightswitch params`: compose params.yaml from conf/ (a grid + a profile).

Uses DVC's own Hydra composition, so the file it writes is exactly what
`dvc exp run -S grid=G -S profile=P` would write.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path
from typing import Any

from weightswitch.errors import UsageError, unknown_choice


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


def default_params(conf_dir: Path | None = None) -> dict[str, Any]:
    """What conf/ composes with its own defaults: the settings of a bare `weightswitch
    train`, so that it runs exactly what the pipeline runs for the same grid x profile
    (one source of defaults, not a second set in the dataclasses)."""
    from weightswitch.config import load_params

    conf_dir = conf_dir or find_conf_dir()
    with tempfile.TemporaryDirectory(prefix="weightswitch-params-") as tmp:
        out = Path(tmp) / "params.yaml"
        compose_params(conf_dir, out, None, None, [])
        return load_params(out)


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
    if not (conf_dir / "config.yaml").is_file():
        raise UsageError(f"no config.yaml in {conf_dir}; pass --conf DIR")
    compose_params(conf_dir, Path(args.out), args.grid, args.profile, args.overrides)
    print(f"wrote {args.out} (grid={args.grid}, profile={args.profile})")
    return 0


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "params",
        help="compose params.yaml from conf/ for a grid and a profile",
        description="Compose params.yaml from conf/config.yaml + conf/grid/G + conf/profile/P.",
    )
    p.add_argument("--grid", default="study", help="which models (conf/grid/*.yaml)")
    p.add_argument("--profile", default="paper", help="which budget (conf/profile/*.yaml)")
    p.add_argument("--conf", default="conf", help="config folder (default: conf)")
    p.add_argument("--out", default="params.yaml", help="file to write (default: params.yaml)")
    p.add_argument(
        "overrides", nargs="*", help="Hydra overrides, e.g. recipe.epochs=3 'seeds=[0,1]'"
    )
    p.set_defaults(func=run)
    return p
