"""Getting upstream archives into `ROOT/.raw/NAME/` and reading them with torchvision.

Files sit where torchvision's classes look for them (`MNIST/raw/*.gz`, `cifar-10-python.tar.gz`
+ `cifar-10-batches-py/`), so the real torchvision loaders parse them.
"""

from __future__ import annotations

import contextlib
import gzip
import os
import shutil
import tarfile
import tempfile
import urllib.error
from collections.abc import Callable
from pathlib import Path

import torch
from torch import Tensor
from torchvision.datasets import MNIST, VisionDataset

from weightswitch.data.checksums import ExtraChecksums, Verified, verify
from weightswitch.data.manifest import PARTIAL, remove
from weightswitch.data.mirrors import offline_fix
from weightswitch.data.registry import Archive, DatasetSpec
from weightswitch.errors import ChecksumError, WeightswitchError

Log = Callable[[str], None]


def _is_idx(spec: DatasetSpec) -> bool:
    return issubclass(spec.torchvision_class, MNIST)


def archive_dir(spec: DatasetSpec, raw: Path) -> Path:
    """Where torchvision expects the archives of `spec` under the raw root."""
    if _is_idx(spec):
        return raw / spec.torchvision_class.__name__ / "raw"
    return raw


def _extracted(spec: DatasetSpec, raw: Path) -> list[Path]:
    folder = archive_dir(spec, raw)
    if _is_idx(spec):
        return [folder / a.filename.removesuffix(".gz") for a in spec.archives]
    return [raw / spec.torchvision_class.base_folder]


def mirror_file(mirror: Path, spec: DatasetSpec, filename: str) -> Path:
    """`MIRROR/NAME/FILE` (a mirror holding several datasets) or `MIRROR/FILE`."""
    candidates = [mirror / spec.name / filename, mirror / filename]
    for path in candidates:
        if path.is_file():
            return path
    looked = " or ".join(str(p) for p in candidates)
    raise WeightswitchError(f"mirror is missing {filename} for {spec.name} (looked for {looked})")


def _same_stat(path: Path, st: os.stat_result) -> bool:
    return path.is_file() and (path.stat().st_size, path.stat().st_mtime_ns) == (
        st.st_size,
        st.st_mtime_ns,
    )


def copy_from_mirror(
    spec: DatasetSpec, mirror: Path, raw: Path, extra: ExtraChecksums, log: Log
) -> dict[str, Verified]:
    """Copy and verify the original archives from a local mirror; never touches the network.

    Copies are staged and verified first and moved into the raw folder only when all of
    them passed, so a bad mirror leaves nothing behind.
    """
    if not mirror.is_dir():
        raise WeightswitchError(f"mirror folder {mirror} does not exist")
    sources = [mirror_file(mirror, spec, a.filename) for a in spec.archives]  # all, before copying
    dest = archive_dir(spec, raw)
    dest.mkdir(parents=True, exist_ok=True)
    verified: dict[str, Verified] = {}
    staged: list[tuple[Path, Path]] = []
    try:
        for archive, src in zip(spec.archives, sources, strict=True):
            dst, st = dest / archive.filename, src.stat()
            found = None
            if _same_stat(dst, st):  # copied before (copy2 keeps mtime): check that copy
                with contextlib.suppress(ChecksumError):  # damaged since: copy again
                    found = verify(dst, archive, spec.name, extra)
            if found is None:
                log(f"copy {src} ({st.st_size / 1e6:.1f} MB)")
                tmp = dest / f"{PARTIAL}{archive.filename}"
                staged.append((tmp, dst))
                shutil.copy2(src, tmp)
                found = verify(tmp, archive, spec.name, extra, shown=src)
            verified[archive.filename] = found
            log(f"verified {archive.filename} ({found.verified_by})")
        for tmp, dst in staged:
            os.replace(tmp, dst)
    finally:
        for tmp, _ in staged:
            tmp.unlink(missing_ok=True)
    return verified


def download(spec: DatasetSpec, raw: Path, extra: ExtraChecksums, log: Log) -> dict[str, Verified]:
    """Download missing or invalid archives with torchvision's own downloader (which checks
    its MD5s), then verify every archive."""
    folder = archive_dir(spec, raw)

    def check(archive: Archive) -> Verified:
        return verify(folder / archive.filename, archive, spec.name, extra)

    verified: dict[str, Verified] = {}
    for archive in spec.archives:
        with contextlib.suppress(ChecksumError, FileNotFoundError):
            verified[archive.filename] = check(archive)
    missing = [a for a in spec.archives if a.filename not in verified]
    if missing:
        names = ", ".join(a.filename for a in missing)
        log(f"download {names} with torchvision")
        for path in _extracted(spec, raw):  # otherwise torchvision thinks it has the data
            remove(path)
        try:
            spec.torchvision_class(str(raw), train=True, download=True)
        except (RuntimeError, OSError, urllib.error.URLError) as exc:
            reason = " ".join(str(exc).split())
            if "urlopen error" in reason:  # the cause, not every URL torchvision tried
                reason = reason[reason.rindex("urlopen error") :].strip("<>() ")
            raise WeightswitchError(
                f"could not download {spec.name} ({reason}); without internet: {offline_fix(spec)}"
            ) from exc
        for archive in missing:
            verified[archive.filename] = check(archive)
    for archive in spec.archives:
        log(f"verified {archive.filename} ({verified[archive.filename].verified_by})")
    return {a.filename: verified[a.filename] for a in spec.archives}


def _safe_extractall(tar: tarfile.TarFile, to: Path) -> None:
    if hasattr(tarfile, "data_filter"):
        tar.extractall(to, filter="data")
    else:  # pragma: no cover - Python without extraction filters
        tar.extractall(to)


def extract(spec: DatasetSpec, raw: Path) -> None:
    """(Re-)extract verified archives; always fresh so a half-extracted folder never survives."""
    folder = archive_dir(spec, raw)
    if _is_idx(spec):
        for archive, target in zip(spec.archives, _extracted(spec, raw), strict=True):
            tmp = target.with_name(f"{PARTIAL}{target.name}")
            with gzip.open(folder / archive.filename, "rb") as src, open(tmp, "wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
            os.replace(tmp, target)
        return
    (target,) = _extracted(spec, raw)
    tmp = Path(tempfile.mkdtemp(prefix=f"{PARTIAL}extract-", dir=raw))
    try:
        with tarfile.open(folder / spec.archives[0].filename, "r:gz") as tar:
            _safe_extractall(tar, tmp)
        if not (tmp / target.name).is_dir():
            raise WeightswitchError(f"{spec.archives[0].filename} holds no {target.name}/ folder")
        remove(target)
        os.replace(tmp / target.name, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def loader_class(spec: DatasetSpec, upstream: bool) -> type[VisionDataset]:
    """torchvision's class; for CIFAR archives verified by a non-upstream checksum, a subclass
    that skips its per-member MD5s (the archive itself was verified)."""
    cls = spec.torchvision_class
    if upstream or _is_idx(spec):  # the IDX classes check nothing after download
        return cls
    relaxed = {
        "train_list": [[name, None] for name, _ in cls.train_list],
        "test_list": [[name, None] for name, _ in cls.test_list],
        "meta": {**cls.meta, "md5": None},
    }
    return type(cls.__name__, (cls,), relaxed)


def _as_tensors(ds: VisionDataset) -> tuple[Tensor, Tensor]:
    data = ds.data
    if isinstance(data, Tensor):  # IDX: uint8 [N, H, W]
        images = data.unsqueeze(1)
    else:  # CIFAR: numpy uint8 [N, H, W, C]
        images = torch.from_numpy(data).permute(0, 3, 1, 2)
    labels = torch.as_tensor(ds.targets, dtype=torch.int64)
    return images.contiguous(), labels


def read(spec: DatasetSpec, raw: Path, upstream: bool) -> tuple[dict, list[str]]:
    """Parse the extracted files with torchvision: `{"train"|"test": (images, labels)}`."""
    cls = loader_class(spec, upstream)
    splits = {}
    try:
        for split in ("train", "test"):
            ds = cls(str(raw), train=split == "train", download=False)
            splits[split] = _as_tensors(ds)
    except Exception as exc:  # torchvision raises bare RuntimeError/AssertionError/pickle errors
        msg = f"torchvision could not read {spec.name} from {raw}: {exc!r}"
        raise WeightswitchError(msg) from exc
    classes = list(ds.classes)
    for split, (images, labels) in splits.items():
        if tuple(images.shape[1:]) != spec.shape or images.dtype != torch.uint8:
            raise WeightswitchError(
                f"{spec.name} {split}: images are {images.dtype} {tuple(images.shape)}, "
                f"expected uint8 [N, {', '.join(map(str, spec.shape))}]"
            )
        if len(labels) != len(images) or (
            len(labels) and (labels.min() < 0 or labels.max() >= spec.num_classes)
        ):
            raise WeightswitchError(f"{spec.name} {split}: labels do not match the images")
    if tuple(classes) != spec.class_names:
        raise WeightswitchError(f"{spec.name}: class names in the archive differ from the registry")
    return splits, classes
