"""Archive verification: upstream MD5, or SHA-256 of a known-good decompressed payload.

Verification can only be widened (extra trusted values from `WEIGHTSWITCH_CHECKSUMS`),
never switched off.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import re
import zlib
from dataclasses import dataclass
from pathlib import Path

from weightswitch.data.registry import Archive
from weightswitch.errors import ChecksumError, UsageError

CHECKSUMS_ENV = "WEIGHTSWITCH_CHECKSUMS"
_CHUNK = 1 << 20
_MD5 = re.compile(r"(?:md5:)?([0-9a-f]{32})")
_SHA256 = re.compile(r"sha256:([0-9a-f]{64})")


def file_digest(path: Path, algorithm: str = "sha256") -> str:
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def payload_sha256(path: Path) -> str:
    """SHA-256 of the decompressed content (of the file itself if it is not gzip)."""
    with open(path, "rb") as raw:
        is_gzip = raw.read(2) == b"\x1f\x8b"
    h = hashlib.sha256()
    with gzip.open(path, "rb") if is_gzip else open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


@dataclass(frozen=True)
class Trusted:
    """Accepted checksums of one archive: MD5s of the file, SHA-256s of its payload."""

    md5: frozenset[str]
    payload_sha256: frozenset[str]
    upstream_md5: str

    def describe(self) -> str:
        parts = [f"md5 {m}" for m in sorted(self.md5)]
        parts += [f"payload sha256 {s}" for s in sorted(self.payload_sha256)]
        return " or ".join(parts)


@dataclass(frozen=True)
class Verified:
    """What `verify` found, recorded in the manifest."""

    md5: str
    payload_sha256: str | None
    verified_by: str  # "upstream md5" | "md5" | "payload sha256"

    @property
    def upstream(self) -> bool:
        return self.verified_by == "upstream md5"

    def as_dict(self) -> dict[str, str]:
        out = {"md5": self.md5, "verified_by": self.verified_by}
        if self.payload_sha256 is not None:
            out["payload_sha256"] = self.payload_sha256
        return out


ExtraChecksums = dict[str, tuple[str, ...]]


def load_extra_checksums(path: str | Path | None) -> ExtraChecksums:
    """Parse a `{"[dataset/]file name": "md5" | "sha256:<payload hex>" | [...]}` JSON file."""
    if not path:
        return {}
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise UsageError(f"cannot read trusted checksums {path} ({CHECKSUMS_ENV}): {exc}") from exc
    if not isinstance(data, dict):
        raise UsageError(f"{path}: expected a JSON object of file name -> checksum(s)")
    out: ExtraChecksums = {}
    for key, value in data.items():
        values = [value] if isinstance(value, str) else value
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise UsageError(f"{path}: {key!r} must map to a checksum string or a list of them")
        for v in values:
            if not (_MD5.fullmatch(v.lower()) or _SHA256.fullmatch(v.lower())):
                raise UsageError(f"{path}: {key!r}: {v!r} is neither an md5 nor sha256:<hex>")
        out[key] = tuple(v.lower() for v in values)
    return out


def trusted(archive: Archive, dataset: str, extra: ExtraChecksums) -> Trusted:
    md5 = {archive.md5}
    sha = set(archive.payload_sha256)
    for value in extra.get(archive.filename, ()) + extra.get(f"{dataset}/{archive.filename}", ()):
        if m := _MD5.fullmatch(value):
            md5.add(m.group(1))
        elif m := _SHA256.fullmatch(value):
            sha.add(m.group(1))
    return Trusted(frozenset(md5), frozenset(sha), archive.md5)


def verify(
    path: Path, archive: Archive, dataset: str, extra: ExtraChecksums, shown: Path | None = None
) -> Verified:
    """Check `path` against every trusted value of `archive`; `ChecksumError` if none matches.

    `shown`: the file to name in the error (the mirror original of a copy being checked).
    """
    accepted = trusted(archive, dataset, extra)
    md5 = file_digest(path, "md5")
    if md5 == accepted.upstream_md5:
        return Verified(md5, None, "upstream md5")
    if md5 in accepted.md5:
        return Verified(md5, None, "md5")
    try:
        payload = payload_sha256(path)
    except (OSError, EOFError, zlib.error) as exc:
        payload_msg = f"payload unreadable ({exc})"
        payload = None
    else:
        payload_msg = f"payload sha256 {payload}"
        if payload in accepted.payload_sha256:
            return Verified(md5, payload, "payload sha256")
    raise ChecksumError(
        f"checksum mismatch for {shown or path}: expected {accepted.describe()}; "
        f"got md5 {md5}, {payload_msg}"
    )
