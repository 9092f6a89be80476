"""`weightswitch fetch` end to end on fake upstream archives: real files, real torchvision."""

from __future__ import annotations

import functools
import gzip
import hashlib
import http.server
import json
import os
import shutil
import threading
from pathlib import Path

import pytest
import torch
import torchvision.datasets as tvd

import fakedata
from weightswitch.cli import main
from weightswitch.data import fetch, get_spec, load_split, read_manifest
from weightswitch.data.checksums import load_extra_checksums
from weightswitch.data.manifest import PARTIAL
from weightswitch.data.sources import loader_class

quiet = functools.partial(fetch, log=lambda msg: None)


def _cli(*args: str) -> int:
    return main(["fetch", *map(str, args)])


def _leftovers(root: Path, name: str) -> list[Path]:
    """Anything a failed or interrupted run must not leave behind."""
    return [*root.glob(f"{name}*"), *root.rglob(f"{PARTIAL}*")]


@pytest.fixture
def one_mirror(tmp_path: Path) -> tuple[Path, dict]:
    """A private, writable mirror (tests corrupt it) for mnist and cifar10."""
    checksums = fakedata.write_mirror(tmp_path / "mirror", ("mnist", "cifar10"))
    return tmp_path / "mirror", load_extra_checksums(
        fakedata.write_checksums_json(tmp_path / "sums.json", checksums)
    )


def test_unknown_dataset_exits_2(capsys) -> None:
    assert _cli("imagenet") == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "unknown dataset 'imagenet'" in err and "cifar100" in err


def test_fetch_cli_prepares_all_splits(fake_mirror_env, tmp_path: Path, capsys) -> None:
    assert _cli("cifar100", "--root", tmp_path, "--val-size", 50, "--seed", 3) == 0
    manifest = read_manifest(tmp_path, "cifar100")
    assert manifest["counts"] == {"train": 450, "val": 50, "test": 100}
    assert manifest["split"] == {"source": "train", "val_size": 50, "seed": 3}
    assert manifest["class_names"] == list(get_spec("cifar100").class_names)
    (filename,) = manifest["inputs"]
    assert manifest["inputs"][filename]["md5"] == fake_mirror_env.checksums["cifar100"][filename]
    assert manifest["inputs"][filename]["verified_by"] == "md5"
    for split, n in manifest["counts"].items():
        path = tmp_path / "cifar100" / f"{split}.pt"
        assert (
            manifest["files"][path.name]["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
        )
        data = torch.load(path, weights_only=True)
        assert data["images"].dtype == torch.uint8 and data["images"].shape == (n, 3, 32, 32)
        assert data["labels"].dtype == torch.int64 and data["labels"].shape == (n,)
        assert sum(manifest["class_counts"][split]) == n
    assert (tmp_path / ".raw" / "cifar100" / "cifar-100-python.tar.gz").is_file()
    assert "wrote" in capsys.readouterr().err


def test_prepared_splits_match_torchvision(prepared_root: Path) -> None:
    """train + val is exactly torchvision's training set (no test image), in a seeded split."""
    for name in ("mnist", "cifar10"):
        spec = get_spec(name)
        raw = prepared_root / ".raw" / name
        cls = loader_class(spec, upstream=False)  # torchvision's class (CIFAR: member MD5s off)
        tv_train, tv_test = cls(str(raw), train=True), cls(str(raw), train=False)
        to_nchw = (
            (lambda d: d.unsqueeze(1))
            if name == "mnist"
            else (lambda d: torch.from_numpy(d).permute(0, 3, 1, 2))
        )
        full = to_nchw(tv_train.data)
        x_tr, _ = load_split(prepared_root, name, "train")
        x_va, y_va = load_split(prepared_root, name, "val")
        x_te, y_te = load_split(prepared_root, name, "test")
        assert (len(x_tr), len(x_va), len(x_te)) == (400, 100, 100)
        assert x_tr.shape[1:] == spec.shape
        perm = torch.randperm(500, generator=torch.Generator().manual_seed(0))
        val_idx, train_idx = perm[:100].sort().values, perm[100:].sort().values
        assert torch.equal(x_va, full[val_idx]) and torch.equal(x_tr, full[train_idx])
        assert torch.equal(y_va, torch.as_tensor(tv_train.targets)[val_idx])
        assert set(train_idx.tolist()).isdisjoint(val_idx.tolist())
        assert torch.equal(x_te, to_nchw(tv_test.data)) and torch.equal(
            y_te, torch.as_tensor(tv_test.targets)
        )


def test_second_run_is_up_to_date_and_rewrites_nothing(fake_mirror, tmp_path: Path) -> None:
    """A second fetch recognises its finished output: one 'up to date' line, no file rewritten
    (what it costs is a benchmark's question, `weightswitch bench data`, not a timed assert)."""
    extra = load_extra_checksums(fake_mirror.checksums_file)
    out = quiet("mnist", tmp_path, mirror=fake_mirror.path, val_size=100, extra_checksums=extra)
    stamps = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    messages: list[str] = []
    fetch("mnist", tmp_path, mirror=fake_mirror.path, val_size=100, log=messages.append)
    assert "up to date" in messages[-1] and len(messages) == 1
    assert stamps == {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    # new mtimes (e.g. after `dvc checkout`): rehashed, still up to date, nothing rewritten
    for p in out.glob("*.pt"):
        p.touch()
    messages.clear()
    fetch("mnist", tmp_path, mirror=fake_mirror.path, val_size=100, log=messages.append)
    assert "up to date" in messages[-1]
    # damaged output: prepared again; other arguments: prepared again
    (out / "val.pt").write_bytes(b"x" * (out / "val.pt").stat().st_size)
    messages.clear()
    fetch(
        "mnist",
        tmp_path,
        mirror=fake_mirror.path,
        val_size=100,
        extra_checksums=extra,
        log=messages.append,
    )
    assert "up to date" not in " ".join(messages)
    assert torch.load(out / "val.pt", weights_only=True)["images"].shape[0] == 100
    quiet("mnist", tmp_path, mirror=fake_mirror.path, val_size=50, extra_checksums=extra)
    assert read_manifest(tmp_path, "mnist")["counts"]["val"] == 50
    assert not _leftovers(tmp_path, "mnist.")


def test_output_is_byte_identical_across_runs(fake_mirror, tmp_path: Path) -> None:
    extra = load_extra_checksums(fake_mirror.checksums_file)
    for sub in ("a", "b"):
        quiet(
            "fashion_mnist",
            tmp_path / sub,
            mirror=fake_mirror.path,
            val_size=100,
            extra_checksums=extra,
        )
    for fname in ("manifest.json", "train.pt", "val.pt", "test.pt"):
        a = (tmp_path / "a" / "fashion_mnist" / fname).read_bytes()
        assert a == (tmp_path / "b" / "fashion_mnist" / fname).read_bytes(), fname


def test_val_size_too_large_exits_2(fake_mirror_env, tmp_path: Path, capsys) -> None:
    assert _cli("mnist", "--root", tmp_path, "--val-size", 500) == 2
    assert "--val-size 500" in capsys.readouterr().err
    assert not (tmp_path / "mnist").exists()


def test_verification_is_never_off(fake_mirror, tmp_path: Path, capsys, monkeypatch) -> None:
    """Without the extra trusted checksums, fake archives fail the upstream MD5."""
    monkeypatch.delenv("WEIGHTSWITCH_CHECKSUMS", raising=False)
    assert _cli("cifar10", "--root", tmp_path, "--mirror", fake_mirror.path) == 1
    err = capsys.readouterr().err
    assert "checksum mismatch" in err and "cifar-10-python.tar.gz" in err
    assert get_spec("cifar10").archives[0].md5 in err  # expected
    assert fake_mirror.checksums["cifar10"]["cifar-10-python.tar.gz"] in err  # actual
    assert not _leftovers(tmp_path, "cifar10")


def test_payload_sha256_is_accepted(tmp_path: Path) -> None:
    """A re-packed archive (different gzip wrapper, same payload) passes by payload sha256."""
    mirror = tmp_path / "mirror"
    fakedata.write_idx("fashion_mnist", mirror)
    sums = {
        f.name: "sha256:" + hashlib.sha256(gzip.decompress(f.read_bytes())).hexdigest()
        for f in mirror.iterdir()
    }
    (tmp_path / "sums.json").write_text(json.dumps(sums))
    out = quiet(
        "fashion_mnist",
        tmp_path / "data",
        mirror=mirror,
        val_size=10,
        extra_checksums=load_extra_checksums(tmp_path / "sums.json"),
    )
    inputs = json.loads((out / "manifest.json").read_text())["inputs"]
    assert {v["verified_by"] for v in inputs.values()} == {"payload sha256"}


def test_missing_mirror_file(one_mirror, tmp_path: Path, capsys, monkeypatch) -> None:
    mirror, _ = one_mirror
    (mirror / "mnist" / "t10k-labels-idx1-ubyte.gz").unlink()
    monkeypatch.setenv("WEIGHTSWITCH_MIRROR", str(mirror))  # mirror from the environment
    assert _cli("mnist", "--root", tmp_path / "data") == 1
    err = capsys.readouterr().err
    assert "t10k-labels-idx1-ubyte.gz" in err and str(mirror) in err
    assert not _leftovers(tmp_path / "data", "mnist")


def test_missing_mirror_folder(tmp_path: Path, capsys) -> None:
    assert _cli("mnist", "--root", tmp_path, "--mirror", tmp_path / "nowhere") == 1
    assert "nowhere" in capsys.readouterr().err


@pytest.mark.parametrize("damage", ["truncate", "corrupt"])
@pytest.mark.parametrize("name", ["mnist", "cifar10"])
def test_damaged_archive_is_rejected(one_mirror, tmp_path, capsys, monkeypatch, damage, name):
    mirror, _ = one_mirror
    monkeypatch.setenv("WEIGHTSWITCH_CHECKSUMS", str(tmp_path / "sums.json"))
    root = tmp_path / "data"
    assert _cli(name, "--root", root, "--mirror", mirror, "--val-size", 10) == 0
    prepared = {p.name: p.read_bytes() for p in (root / name).iterdir()}
    target = mirror / name / get_spec(name).archives[-1].filename
    good = target.read_bytes()
    good_md5 = hashlib.md5(good).hexdigest()
    data = bytearray(target.read_bytes())
    if damage == "truncate":
        data = data[: len(data) // 2]
    else:
        data[len(data) // 2] ^= 0xFF
    target.write_bytes(bytes(data))
    shutil.rmtree(root / name)  # the archive is re-read only when something must be prepared
    assert _cli(name, "--root", root, "--mirror", mirror, "--val-size", 10) == 1
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert f"checksum mismatch for {target}:" in err  # names the mirror file
    assert good_md5 in err and hashlib.md5(bytes(data)).hexdigest() in err
    assert not _leftovers(root, name)
    (cached,) = (root / ".raw" / name).rglob(target.name)
    assert cached.read_bytes() == good  # the bad copy never replaced the verified one
    # a repaired mirror works again, producing the same bytes
    fakedata.write_dataset(name, mirror / name)
    assert _cli(name, "--root", root, "--mirror", mirror, "--val-size", 10) == 0
    assert prepared == {p.name: p.read_bytes() for p in (root / name).iterdir()}


class _Interrupt(BaseException):
    pass


@pytest.mark.parametrize("at", ["copy", "verified", "extracted", "parsed", "wrote"])
def test_interrupted_fetch_reruns_cleanly(one_mirror, tmp_path: Path, at: str) -> None:
    mirror, extra = one_mirror
    root = tmp_path / "data"

    def interrupt(msg: str) -> None:
        if f": {at}" in msg:
            raise _Interrupt

    with pytest.raises(_Interrupt):
        fetch("cifar10", root, mirror=mirror, val_size=10, extra_checksums=extra, log=interrupt)
    # leftovers of a hard kill in the middle of writing
    raw = root / ".raw" / "cifar10"
    (raw / f"{PARTIAL}cifar10-xyz" / "cifar10").mkdir(parents=True)
    (raw / f"{PARTIAL}cifar10-xyz" / "cifar10" / "train.pt").write_bytes(b"half")
    if (raw / "cifar-10-batches-py").is_dir():
        (raw / "cifar-10-batches-py" / "data_batch_3").write_bytes(b"half")
    out = quiet("cifar10", root, mirror=mirror, val_size=10, extra_checksums=extra)
    assert read_manifest(root, "cifar10")["counts"] == {"train": 490, "val": 10, "test": 100}
    assert load_split(root, "cifar10", "train")[0].shape == (490, 3, 32, 32)
    assert out == root / "cifar10" and not list(root.rglob(f"{PARTIAL}*"))


def test_truncated_raw_copy_is_replaced(one_mirror, tmp_path: Path) -> None:
    mirror, extra = one_mirror
    raw = tmp_path / ".raw" / "mnist" / "MNIST" / "raw"
    raw.mkdir(parents=True)
    src = mirror / "mnist" / "train-images-idx3-ubyte.gz"
    (raw / src.name).write_bytes(src.read_bytes()[:100])  # an earlier copy, cut short
    quiet("mnist", tmp_path, mirror=mirror, val_size=10, extra_checksums=extra)
    assert (raw / src.name).read_bytes() == src.read_bytes()
    # damaged in place, size and mtime unchanged: caught by the checksum, copied again
    data = bytearray(src.read_bytes())
    data[200] ^= 0xFF
    (raw / src.name).write_bytes(bytes(data))
    os.utime(raw / src.name, ns=(src.stat().st_atime_ns, src.stat().st_mtime_ns))
    shutil.rmtree(tmp_path / "mnist")
    quiet("mnist", tmp_path, mirror=mirror, val_size=10, extra_checksums=extra)
    assert (raw / src.name).read_bytes() == src.read_bytes()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def local_server(one_mirror):
    """Serve the fake mirror over HTTP on localhost (no outside network)."""
    mirror, _ = one_mirror
    handler = functools.partial(_QuietHandler, directory=str(mirror))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def test_torchvision_downloader_without_mirror(one_mirror, local_server, tmp_path, monkeypatch):
    """No mirror: torchvision's own MNIST downloader runs (pointed at a local server, with the
    fake files' MD5s, since torchvision checks its own list), then we verify again."""
    mirror, extra = one_mirror
    spec = get_spec("mnist")
    assert spec.archives  # the registry read the real upstream MD5s before the patch below
    fake = fakedata.md5
    monkeypatch.setattr(tvd.MNIST, "mirrors", [f"{local_server}/mnist/"])
    monkeypatch.setattr(
        tvd.MNIST, "resources", [(n, fake(mirror / "mnist" / n)) for n, _ in tvd.MNIST.resources]
    )
    out = quiet("mnist", tmp_path, val_size=10, extra_checksums=extra)
    assert read_manifest(tmp_path, "mnist")["counts"]["test"] == 100
    assert out == tmp_path / "mnist"


def test_download_failure_suggests_mirror(local_server, tmp_path, capsys, monkeypatch) -> None:
    monkeypatch.setattr(tvd.MNIST, "mirrors", [f"{local_server}/nothing-here/"])
    monkeypatch.delenv("WEIGHTSWITCH_MIRROR", raising=False)
    assert _cli("mnist", "--root", tmp_path) == 1
    err = capsys.readouterr().err
    assert "could not download mnist" in err and "--mirror" in err
    assert not _leftovers(tmp_path, "mnist")


# SHA-256 of the decompressed upstream MNIST payloads (re-gzipped mirrors are accepted by them).
MNIST_PAYLOADS = {
    "train-images-idx3-ubyte.gz": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",  # noqa: E501
    "train-labels-idx1-ubyte.gz": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",  # noqa: E501
    "t10k-images-idx3-ubyte.gz": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte.gz": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}


def test_mnist_registry_knows_the_upstream_payloads() -> None:
    archives = {a.filename: a for a in get_spec("mnist").archives}
    assert set(archives) == set(MNIST_PAYLOADS)
    for name, sha in MNIST_PAYLOADS.items():
        assert archives[name].payload_sha256 == (sha,)


@pytest.mark.parametrize("name", ["mnist", "fashion_mnist"])
def test_tampered_payload_is_rejected(tmp_path: Path, capsys, monkeypatch, name) -> None:
    """A re-gzipped archive whose payload differs by one byte from the trusted one fails,
    naming the file; nothing is prepared."""
    mirror = tmp_path / "mirror"
    fakedata.write_idx(name, mirror)
    sums = {
        f.name: "sha256:" + hashlib.sha256(gzip.decompress(f.read_bytes())).hexdigest()
        for f in mirror.iterdir()
    }
    (tmp_path / "sums.json").write_text(json.dumps(sums))
    monkeypatch.setenv("WEIGHTSWITCH_CHECKSUMS", str(tmp_path / "sums.json"))
    target = mirror / "train-images-idx3-ubyte.gz"
    payload = bytearray(gzip.decompress(target.read_bytes()))
    payload[-1] ^= 0xFF  # one pixel
    target.write_bytes(gzip.compress(bytes(payload), mtime=0))
    assert _cli(name, "--root", tmp_path / "data", "--mirror", mirror, "--val-size", 10) == 1
    err = capsys.readouterr().err
    assert "checksum mismatch" in err and "train-images-idx3-ubyte.gz" in err
    assert not _leftovers(tmp_path / "data", name)
