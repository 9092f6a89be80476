"""A run's identity: everything its results are a function of (OpenLTH's `Desc` hash).

The semantic config, the sha256 of every prepared split it reads (from the data's
manifest.json), the identity of every parent run (`--init-from`, `--match`) and the numerics
version of the code it uses. Its digest is recorded inside metrics.json and every checkpoint;
"already complete" and "resume" compare with that record, never with config.json, so a result
is never reused for inputs it was not computed from. tests/test_identity_regression.py pins
the digests of every committed record.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from weightswitch import numerics
from weightswitch.config import PRUNE_METHODS, RunConfig, expand, flatten
from weightswitch.errors import UsageError, WeightswitchError
from weightswitch.run_files import DIVERGED, METRICS, UnreadableRecord, read_record

PARENTS = {"init_from": "--init-from", "match": "--match"}


def _short(digest: str | None) -> str:
    return (digest or "none")[:12]


@dataclass(frozen=True)
class Identity:
    """What a run's results are a function of; equal identities give equal results."""

    config: dict[str, Any]  # RunConfig.fingerprint(): the semantic config
    data: dict[str, str] = field(default_factory=dict)  # {prepared file: sha256}
    parents: dict[str, str] = field(default_factory=dict)  # {"init_from": parent digest}
    numerics: dict[str, int] = field(default_factory=dict)  # weightswitch.numerics.versions

    @property
    def digest(self) -> str:
        text = json.dumps(asdict(self), sort_keys=True, default=str)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    def to_dict(self) -> dict[str, Any]:
        return {"digest": self.digest, **asdict(self)}

    @classmethod
    def from_dict(cls, data: Any) -> Identity | None:
        """The recorded identity, or None if `data` is not one (an older weightswitch)."""
        if not isinstance(data, dict) or not isinstance(data.get("config"), dict):
            return None
        return cls(
            data["config"],
            dict(data.get("data") or {}),
            dict(data.get("parents") or {}),
            dict(data.get("numerics") or {}),
        )

    def changes(self, old: Identity) -> str:
        """What differs from `old`, in words (at most three items)."""
        items: list[str] = []
        if old.numerics != self.numerics:
            items.append(
                f"numerics version {_versions(old.numerics)} -> {_versions(self.numerics)}"
            )
        fa, fb = flatten(expand(old.config)), flatten(expand(self.config))
        for key in sorted(k for k in set(fa) | set(fb) if fa.get(k) != fb.get(k)):
            items.append(f"{key}: {fa.get(key)!r} -> {fb.get(key)!r}")
        for name in sorted(set(old.data) | set(self.data)):
            if old.data.get(name) != self.data.get(name):
                items.append(
                    f"prepared {name} re-made (sha256 {_short(old.data.get(name))} -> "
                    f"{_short(self.data.get(name))})"
                )
        for key in sorted(set(old.parents) | set(self.parents)):
            if old.parents.get(key) != self.parents.get(key):
                path = (self.config.get("prune") or {}).get(key)
                items.append(
                    f"parent {PARENTS.get(key, key)} {path} retrained (identity "
                    f"{_short(old.parents.get(key))} -> {_short(self.parents.get(key))})"
                )
        return "; ".join(items[:3]) + ("; ..." if len(items) > 3 else "") or "nothing"


def _versions(numerics: dict[str, int]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(numerics.items())) or "(none recorded)"


DIVERGED_PARENT = "diverged:"  # prefix of a parent digest whose run diverged


def _parent_digest(run_dir: Path, flag: str, data: dict[str, str]) -> str:
    """A finished parent run's identity digest; a parent that diverged gives its recorded
    identity behind DIVERGED_PARENT, so the child's identity is defined and its outcome
    (nothing to start from) can be recorded too. A parent trained on other prepared data
    than today's (`data`: the child's {file: sha256}) is refused: its weights were fitted to
    a split that no longer exists (e.g. its training images are now validation images)."""
    path = run_dir / METRICS
    try:
        metrics = read_record(run_dir)
    except FileNotFoundError:
        record = _try_json(run_dir / DIVERGED)
        recorded = Identity.from_dict(record.get("identity")) if record else None
        if recorded is not None:
            return DIVERGED_PARENT + recorded.digest
        raise UsageError(f"{flag}: {path} not found (is the run finished?)") from None
    except UnreadableRecord as exc:
        raise UsageError(f"{flag}: cannot read {path} ({exc})") from None
    recorded = Identity.from_dict(metrics.get("identity"))
    if recorded is None:
        raise UsageError(
            f"{flag} {run_dir}: a finished run with no recorded identity (an "
            "older weightswitch); retrain it"
        )
    changed = sorted(
        n for n in set(recorded.data) | set(data) if recorded.data.get(n) != data.get(n)
    )
    if changed:
        raise UsageError(
            f"{flag} {run_dir} was trained on other prepared data ({', '.join(changed)}: sha256 "
            f"{_short(recorded.data.get(changed[0]))} there, {_short(data.get(changed[0]))} "
            "now); retrain it"
        )
    return recorded.digest


def identity_of(cfg: RunConfig) -> Identity:
    """The identity of the run `cfg` describes (reads the manifest and parents' metrics)."""
    from weightswitch.data.manifest import MANIFEST, read_manifest, repair_command

    manifest = read_manifest(cfg.data_root, cfg.dataset)
    try:
        data = {name: str(meta["sha256"]) for name, meta in sorted(manifest["files"].items())}
    except (KeyError, TypeError):
        raise WeightswitchError(
            f"{Path(cfg.data_root) / cfg.dataset / MANIFEST} is damaged; repair: "
            f"{repair_command(cfg.data_root, cfg.dataset, manifest.get('split'))}"
        ) from None
    parents: dict[str, str] = {}
    if cfg.method in PRUNE_METHODS and cfg.prune is not None:
        for key, flag in PARENTS.items():
            path = getattr(cfg.prune, key)
            if path:
                parents[key] = _parent_digest(Path(path), flag, data)
    return Identity(cfg.fingerprint(), data, parents, numerics.versions(cfg.method))


def diverged_parents(cfg: RunConfig, identity: Identity) -> list[str]:
    """`--match PATH`-style names of the parent runs that diverged (none: an empty list)."""
    return [
        f"{PARENTS[key]} {getattr(cfg.prune, key)}"
        for key, digest in sorted(identity.parents.items())
        if digest.startswith(DIVERGED_PARENT)
    ]


def _try_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None
