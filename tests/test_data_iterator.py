"""`load_split` and `BatchIterator`: determinism, augmentation semantics, normalisation."""

from __future__ import annotations

import itertools

import pytest
import torch
import torchvision.transforms.v2.functional as TF

from weightswitch.bench import data as bench_data
from weightswitch.data import BatchIterator, get_spec, load_split
from weightswitch.data.iterator import crop_flip
from weightswitch.data.registry import input_norm
from weightswitch.errors import UsageError, WeightswitchError

CIFAR = get_spec("cifar10")


def _batches(it: BatchIterator, epoch: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    it.set_epoch(epoch)
    return list(it)


def _iterator(prepared_root, name="cifar10", **kwargs) -> BatchIterator:
    images, labels = load_split(prepared_root, name, "train")
    options = {"shuffle": True, "augment": True, "device": "cpu", "seed": 0, **kwargs}
    return BatchIterator(images, labels, get_spec(name), 64, **options)


def _normalise(images: torch.Tensor, spec) -> torch.Tensor:
    """The reference code's preprocessing: ToTensor, then Normalize for CIFAR only."""
    x = images.float() / 255
    if spec.reference_norm is None:
        return x
    return TF.normalize(x, list(spec.reference_norm[0]), list(spec.reference_norm[1]))


def test_load_split_shapes_and_limit(prepared_root) -> None:
    images, labels = load_split(prepared_root, "mnist", "train")
    assert images.dtype == torch.uint8 and images.shape == (400, 1, 28, 28)
    assert labels.dtype == torch.int64 and labels.shape == (400,)
    sub_x, sub_y = load_split(prepared_root, "mnist", "train", limit=50, seed=1)
    again_x, _ = load_split(prepared_root, "mnist", "train", limit=50, seed=1)
    other_x, _ = load_split(prepared_root, "mnist", "train", limit=50, seed=2)
    assert sub_x.shape == (50, 1, 28, 28) and torch.equal(sub_x, again_x)
    assert not torch.equal(sub_x, other_x)
    assert torch.bincount(sub_y, minlength=10).tolist() == [5] * 10  # balanced
    rows = {bytes(x.flatten().numpy()) for x in images}
    assert all(bytes(x.flatten().numpy()) in rows for x in sub_x)  # a subset
    assert load_split(prepared_root, "mnist", "train", limit=10_000)[0].shape[0] == 400


def test_load_split_errors(prepared_root, tmp_path) -> None:
    with pytest.raises(UsageError, match="unknown split 'dev'"):
        load_split(prepared_root, "mnist", "dev")
    with pytest.raises(UsageError, match="unknown dataset"):
        load_split(prepared_root, "svhn", "train")
    with pytest.raises(WeightswitchError, match="weightswitch fetch mnist"):
        load_split(tmp_path, "mnist", "train")
    with pytest.raises(UsageError):
        load_split(prepared_root, "mnist", "train", limit=0)


def test_len_and_last_partial_batch(prepared_root) -> None:
    it = _iterator(prepared_root, shuffle=False, augment=False)
    batches = _batches(it, 0)
    assert len(it) == len(batches) == 7  # 400 = 6 * 64 + 16
    assert [len(y) for _, y in batches] == [64] * 6 + [16]
    x, y = batches[0]
    assert x.dtype == torch.float32 and x.shape == (64, 3, 32, 32) and y.dtype == torch.int64


def test_deterministic_per_seed_and_epoch(prepared_root) -> None:
    a, b = _iterator(prepared_root), _iterator(prepared_root)
    first = _batches(a, 3)
    _batches(b, 0)  # a different history does not matter: only (seed, epoch) does
    for (xa, ya), (xb, yb) in zip(first, _batches(b, 3), strict=True):
        assert torch.equal(xa, xb) and torch.equal(ya, yb)
    other_epoch = torch.cat([y for _, y in _batches(a, 4)])
    other_seed = torch.cat([y for _, y in _batches(_iterator(prepared_root, seed=1), 3)])
    labels = torch.cat([y for _, y in first])
    assert not torch.equal(labels, other_epoch) and not torch.equal(labels, other_seed)
    assert sorted(labels.tolist()) == sorted(other_epoch.tolist())  # a permutation


def test_no_augmentation_is_plain_normalisation(prepared_root) -> None:
    images, labels = load_split(prepared_root, "cifar10", "train")
    it = _iterator(prepared_root, shuffle=False, augment=False)
    x = torch.cat([x for x, _ in _batches(it, 0)])
    y = torch.cat([y for _, y in _batches(it, 0)])
    torch.testing.assert_close(x, _normalise(images, CIFAR), atol=1e-5, rtol=0)
    assert torch.equal(y, labels)
    per_channel = x.mean(dim=(0, 2, 3))
    assert per_channel.shape == (3,) and per_channel.abs().max() < 2  # roughly centred


def test_mnist_family_never_augments(prepared_root) -> None:
    images, _ = load_split(prepared_root, "mnist", "train")
    it = _iterator(prepared_root, "mnist", shuffle=False, augment=True)
    x = torch.cat([x for x, _ in _batches(it, 5)])
    torch.testing.assert_close(x, _normalise(images, get_spec("mnist")), atol=1e-5, rtol=0)
    assert x.min() >= 0 and x.max() <= 1  # raw pixels, as the reference feeds MNIST


@pytest.mark.parametrize("mode", ["reference", "dataset", "none"])
def test_input_norm_modes(prepared_root, mode) -> None:
    images, _ = load_split(prepared_root, "cifar10", "train")
    it = BatchIterator(
        images,
        torch.zeros(len(images), dtype=torch.long),
        CIFAR,
        64,
        shuffle=False,
        augment=False,
        norm=mode,
    )
    x = torch.cat([x for x, _ in _batches(it, 0)])
    mean, std = {
        "reference": CIFAR.reference_norm,
        "dataset": (CIFAR.mean, CIFAR.std),
        "none": ((0.0,) * 3, (1.0,) * 3),
    }[mode]
    want = TF.normalize(images.float() / 255, list(mean), list(std))
    torch.testing.assert_close(x, want, atol=1e-5, rtol=0)


def test_input_norm_rejects_unknown_mode() -> None:
    with pytest.raises(UsageError, match="valid choices: reference, dataset, none"):
        input_norm(CIFAR, "zscore")


def test_crop_flip_matches_torchvision() -> None:
    g = torch.Generator().manual_seed(0)
    batch = torch.randint(0, 256, (12, 3, 32, 32), dtype=torch.uint8, generator=g)
    dy, dx = torch.randint(0, 9, (2, 12), generator=g)
    flip = torch.arange(12) % 2 == 0
    out = crop_flip(batch, dy, dx, flip, padding=4)
    for i in range(12):
        ref = TF.crop(TF.pad(batch[i], [4]), int(dy[i]), int(dx[i]), 32, 32)
        assert torch.equal(out[i], TF.horizontal_flip(ref) if flip[i] else ref)
    centred = crop_flip(batch, torch.full((12,), 4), torch.full((12,), 4), flip & False, 4)
    assert torch.equal(centred, batch)


def test_augmented_samples_are_crops_and_flips_of_their_source(prepared_root) -> None:
    images, _ = load_split(prepared_root, "cifar10", "train")
    it = _iterator(prepared_root, shuffle=False, augment=True)
    x, _ = _batches(it, 2)[0]
    offsets = list(itertools.product(range(9), range(9), (False, True)))
    dy, dx, flip = (torch.tensor(v) for v in zip(*offsets, strict=True))
    found = set()
    for i in range(16):
        candidates = crop_flip(images[i].expand(len(offsets), -1, -1, -1), dy, dx, flip, 4)
        diff = (_normalise(candidates, CIFAR) - x[i]).abs().flatten(1).amax(1)
        assert diff.min() < 1e-4, f"sample {i} is no crop/flip of image {i}"
        found.add(offsets[int(diff.argmin())])
    assert len(found) > 4  # offsets and flips vary across samples
    shifted = (x - _normalise(images[:64], CIFAR)).abs().flatten(1).amax(1) > 1e-4
    assert shifted.float().mean() > 0.5


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_same_batches_on_cuda(prepared_root) -> None:
    cpu = _batches(_iterator(prepared_root), 1)
    gpu = _batches(_iterator(prepared_root, device="cuda"), 1)
    for (xc, yc), (xg, yg) in zip(cpu, gpu, strict=True):
        assert xg.device.type == "cuda"
        torch.testing.assert_close(xg.cpu(), xc)
        assert torch.equal(yg.cpu(), yc)


def test_bad_inputs_are_usage_errors(prepared_root) -> None:
    images, labels = load_split(prepared_root, "mnist", "train")
    with pytest.raises(UsageError, match="uint8"):
        BatchIterator(images.float(), labels, get_spec("mnist"), 8, shuffle=True, augment=False)
    with pytest.raises(UsageError, match="cifar10"):
        BatchIterator(images, labels, CIFAR, 8, shuffle=True, augment=False)
    with pytest.raises(UsageError, match="batch size"):
        BatchIterator(images, labels, get_spec("mnist"), 0, shuffle=True, augment=False)


def test_bench_data_runs(prepared_root, capsys) -> None:
    args = bench_data.Options(num_images=300, epochs=1, workers=1)
    assert bench_data.run(args) == 0
    out = capsys.readouterr().out
    assert "torchvision DataLoader" in out and "weightswitch BatchIterator" in out
    assert "ratio:" in out and "300 images" in out
    args = bench_data.Options(root=prepared_root, epochs=1, workers=0)
    assert bench_data.run(args) == 0
    assert "400 images" in capsys.readouterr().out
