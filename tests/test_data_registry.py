"""Dataset registry: specs agree with torchvision's classes; unknown names fail clearly."""

from __future__ import annotations

import pytest
import torchvision.datasets as tvd

from weightswitch.data import DATASETS, get_spec
from weightswitch.data.checksums import load_extra_checksums, trusted
from weightswitch.errors import UsageError


def test_names() -> None:
    assert list(DATASETS) == ["mnist", "fashion_mnist", "cifar10", "cifar100"]


@pytest.mark.parametrize("name", list(DATASETS))
def test_spec_is_consistent(name: str) -> None:
    spec = get_spec(name)
    assert spec.name == name
    assert spec.shape == (spec.channels, spec.height, spec.width)
    assert len(spec.class_names) == len(set(spec.class_names)) == spec.num_classes
    assert len(spec.mean) == len(spec.std) == spec.channels
    assert all(0 < m < 1 for m in spec.mean) and all(0 < s < 1 for s in spec.std)
    assert spec.val_size == 5000
    assert spec.augment == ("cifar" if name.startswith("cifar") else "none")
    with pytest.raises(AttributeError):
        spec.val_size = 1  # frozen


@pytest.mark.parametrize(
    ("name", "cls"),
    [("mnist", tvd.MNIST), ("fashion_mnist", tvd.FashionMNIST)],
)
def test_idx_archives_are_torchvisions(name: str, cls: type) -> None:
    spec = get_spec(name)
    assert spec.torchvision_class is cls
    assert [(a.filename, a.md5) for a in spec.archives] == [tuple(r) for r in cls.resources]
    assert spec.class_names == tuple(cls.classes)


@pytest.mark.parametrize(("name", "cls"), [("cifar10", tvd.CIFAR10), ("cifar100", tvd.CIFAR100)])
def test_cifar_archive_is_torchvisions(name: str, cls: type) -> None:
    spec = get_spec(name)
    assert spec.torchvision_class is cls
    assert [(a.filename, a.md5) for a in spec.archives] == [(cls.filename, cls.tgz_md5)]


@pytest.mark.parametrize("name", ["mnist", "fashion_mnist"])
def test_mnist_family_has_known_good_payloads(name) -> None:
    archives = get_spec(name).archives
    assert all(len(a.payload_sha256) == 1 and len(a.payload_sha256[0]) == 64 for a in archives)
    assert not any(a.payload_sha256 for a in get_spec("cifar10").archives)


def test_unknown_dataset_lists_valid_names() -> None:
    with pytest.raises(UsageError) as exc:
        get_spec("imagenet")
    assert exc.value.exit_code == 2
    assert "'imagenet'" in str(exc.value)
    for name in DATASETS:
        assert name in str(exc.value)


def test_extra_checksums_only_add(tmp_path) -> None:
    path = tmp_path / "sums.json"
    path.write_text(
        '{"train-images-idx3-ubyte.gz": ["0123456789abcdef0123456789abcdef", "sha256:'
        + "a" * 64
        + '"], "mnist/t10k-images-idx3-ubyte.gz": "MD5:FEDCBA9876543210FEDCBA9876543210"}'
    )
    extra = load_extra_checksums(path)
    train, test = (get_spec("mnist").archives[i] for i in (0, 2))
    accepted = trusted(train, "mnist", extra)
    assert train.md5 in accepted.md5 and "0123456789abcdef0123456789abcdef" in accepted.md5
    assert accepted.payload_sha256 == {"a" * 64, *train.payload_sha256}  # added to the known
    assert "fedcba9876543210fedcba9876543210" in trusted(test, "mnist", extra).md5
    fashion_test = get_spec("fashion_mnist").archives[2]
    assert trusted(fashion_test, "fashion_mnist", extra).md5 == {fashion_test.md5}


@pytest.mark.parametrize("text", ["not json", "[1, 2]", '{"f": "xyz"}', '{"f": [1]}'])
def test_bad_extra_checksums_file_is_a_usage_error(tmp_path, text: str) -> None:
    path = tmp_path / "sums.json"
    path.write_text(text)
    with pytest.raises(UsageError):
        load_extra_checksums(path)
