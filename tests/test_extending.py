"""docs/extending.md is true: each of its recipes (code blocks tagged `# recipe: NAME`) runs
as written, and what it registers trains on generated data and shows up in a report.

Every registry a recipe touches is restored after each test, so nothing leaks into others.
"""

from __future__ import annotations

import functools
import json
import re
import sys
import tempfile
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch

import fakedata
from weightswitch import catalog
from weightswitch.cli import main
from weightswitch.data.registry import DATASETS
from weightswitch.methods import _KINDS
from weightswitch.methods import prune as P
from weightswitch.models.registry import ARCHS

PROJECT = Path(__file__).resolve().parents[1]

DOC = Path(__file__).resolve().parents[1] / "docs" / "extending.md"
REGISTRIES = (catalog.CATALOG, P.CRITERIA, _KINDS, ARCHS, DATASETS)


def recipes() -> dict[str, str]:
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    found = {}
    for block in blocks:
        tag = re.match(r"# recipe: (\S+)\n", block)
        assert tag, f"a python block of {DOC.name} has no '# recipe: NAME' line:\n{block}"
        found[tag.group(1)] = block
    return found


@pytest.fixture(autouse=True)
def restore_registries() -> Iterator[None]:
    saved = [dict(r) for r in REGISTRIES]
    yield
    for registry, before in zip(REGISTRIES, saved, strict=True):
        registry.clear()
        registry.update(before)


def follow(name: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Run the recipe `name` as the document writes it, as the body of an importable module
    (a run pickles its exported model, classes included); return the module's namespace."""
    module = types.ModuleType(f"recipe_{name}")
    monkeypatch.setitem(sys.modules, module.__name__, module)
    exec(compile(recipes()[name], f"{DOC.name}:{name}", "exec"), module.__dict__)
    return module.__dict__


@functools.cache
def _committed_default_params() -> Path:
    """The params conf/ composes for its committed default pair, whatever grid and profile
    the workspace was switched to (a short check or a study may have moved it)."""
    from weightswitch.params_cli import compose_params

    out = Path(tempfile.mkdtemp(prefix="weightswitch-test-params-")) / "params.yaml"
    compose_params(PROJECT / "conf", out, "fashion", "quick", [])
    return out


def train(
    root: Path, out: Path, method: str, *extra: str, arch: str = "lenet300", dataset: str = "mnist"
) -> dict[str, Any]:
    code = main(
        [
            "train",
            "--arch",
            arch,
            "--dataset",
            dataset,
            "--method",
            method,
            "--root",
            str(root),
            "--out",
            str(out),
            "--device",
            "cpu",
            "--no-mlflow",
            "--params",  # the committed default recipe, never the workspace's
            str(_committed_default_params()),
            "--set",
            "profile=test",
            "--epochs",
            "1",
            "--fc-init",
            "pytorch",
            *extra,
        ]
    )
    assert code == 0
    return json.loads((out / "metrics.json").read_text())


HIDDEN = ("--set", "model.hidden=[32,16]")  # lenet300 at a size that trains in seconds


def test_every_recipe_is_tested() -> None:
    assert set(recipes()) == {"criterion", "variant", "kind", "arch", "dataset"}


def test_recipe_a_pruning_criterion(
    prepared_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from weightswitch.config import METHODS, PRUNE_CRITERIA, build_config
    from weightswitch.methods import make_method
    from weightswitch.report.collect import parse_run_name
    from weightswitch.report.style import method_colors, method_marker

    follow("criterion", monkeypatch)
    scored = []
    score = P.CRITERIA["row-norm"].score
    P.CRITERIA["row-norm"] = P.Criterion(lambda w: scored.append(w.shape) or score(w))
    assert "row-norm" in METHODS and PRUNE_CRITERIA["row-norm"] == "row-norm"
    cfg = build_config("lenet300", "mnist", "row-norm", overrides={"prune.sparsity": 0.5})
    assert isinstance(make_method(cfg), P.PruneMethod) and cfg.prune.criterion == "row-norm"
    run = tmp_path / "mnist-lenet300-row-norm-s0"
    metrics = train(
        prepared_root, run, "row-norm", *HIDDEN, "--sparsity", "0.5", "--finetune-epochs", "1"
    )
    assert scored == [(32, 784), (16, 32), (10, 16)]  # each layer scored once
    assert metrics["layer_sparsity"] == pytest.approx(dict.fromkeys(("fc1", "fc2", "fc3"), 0.5))
    assert parse_run_name(run.name)["method"] == "row-norm"
    assert method_colors(["row-norm"])["row-norm"] == "#117733" and method_marker("row-norm") == "h"


def test_a_criterion_prunes_what_it_scores_lowest(monkeypatch: pytest.MonkeyPatch) -> None:
    follow("criterion", monkeypatch)
    w = torch.tensor([[1.0, -2.0, 3.0], [0.1, 0.2, 9.0]])
    masks = P.prune_masks({"fc": w}, {"fc": 2}, P.CRITERIA["row-norm"], "layer")
    lowest = (w.abs() * w.norm(dim=1, keepdim=True)).flatten().argsort()[:2]
    expected = torch.ones(6)
    expected[lowest] = 0
    assert torch.equal(masks["fc"].flatten(), expected)


def test_recipe_a_switcher_variant(
    prepared_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from weightswitch.config import SWITCHER_METHODS, build_config

    follow("variant", monkeypatch)
    assert "switcher-noise-neuron" in SWITCHER_METHODS
    cfg = build_config("lenet300", "mnist", "switcher-noise-neuron")
    assert (cfg.switcher.granularity, cfg.switcher.gate_net, cfg.switcher.snn_input) == (
        "neuron",
        "unet",
        "noise",
    )
    metrics = train(prepared_root, tmp_path / "run", "switcher-noise-neuron", *HIDDEN)
    assert metrics["method"] == "switcher-noise-neuron" and metrics["snn_params"] > 0


def test_recipe_a_new_kind(
    prepared_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from weightswitch.methods import method_class

    namespace = follow("kind", monkeypatch)
    assert method_class("fc-only") is namespace["FCOnly"]
    metrics = train(prepared_root, tmp_path / "run", "fc-only", *HIDDEN)
    assert metrics["method"] == "fc-only" and metrics["fc_sparsity"] == 0.0


def test_recipe_an_arch(
    prepared_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from weightswitch.models import build_model

    follow("arch", monkeypatch)
    model = build_model("tinymlp", "mnist", hidden=8)
    assert model.fc1.out_features == 8 and model.fc1.bias is None  # switchable: no bias
    metrics = train(
        prepared_root, tmp_path / "run", "dense", "--set", "model.hidden=16", arch="tinymlp"
    )
    assert set(metrics["layer_sparsity"]) == {"fc1", "fc2"} and metrics["arch"] == "tinymlp"


def _fetch_kmnist(tmp_path: Path) -> Path:
    """The recipe's dataset from a mirror of generated archives in its upstream format."""
    from weightswitch.data.checksums import load_extra_checksums
    from weightswitch.data.fetch import fetch

    mirror = tmp_path / "mirror"
    md5s = fakedata.write_idx("kmnist", mirror / "kmnist")
    trusted = fakedata.write_checksums_json(tmp_path / "checksums.json", {"kmnist": md5s})
    root = tmp_path / "data"
    fetch(
        "kmnist",
        root,
        mirror=mirror,
        val_size=100,
        extra_checksums=load_extra_checksums(trusted),
        log=lambda _: None,
    )
    return root


def test_recipe_a_dataset(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    follow("dataset", monkeypatch)
    root = _fetch_kmnist(tmp_path)
    assert {p.name for p in (root / "kmnist").iterdir()} >= {"train.pt", "val.pt", "test.pt"}
    metrics = train(root, tmp_path / "run", "dense", *HIDDEN, dataset="kmnist")
    assert metrics["dataset"] == "kmnist" and metrics["train_size"] == 400


def test_all_three_together_in_a_report(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A new criterion on a new arch on a new dataset, trained and reported."""
    for name in ("criterion", "arch", "dataset"):
        follow(name, monkeypatch)
    tiny = ARCHS["tinymlp"]
    ARCHS["tinymlp"] = type(tiny)(tiny.name, tiny.builder, ("kmnist",), tiny.description)
    root = _fetch_kmnist(tmp_path)
    runs = tmp_path / "runs" / "test"
    for method, extra in (
        ("dense", ()),
        ("row-norm", ("--sparsity", "0.6", "--finetune-epochs", "1")),
    ):
        train(
            root,
            runs / f"kmnist-tinymlp-{method}-s0",
            method,
            "--set",
            "model.hidden=16",
            *extra,
            arch="tinymlp",
            dataset="kmnist",
        )
    out = tmp_path / "report"
    assert main(["report", "--results", str(tmp_path / "runs"), "--out", str(out)]) == 0
    summary = (out / "tables" / "summary.md").read_text()
    (row,) = [line for line in summary.splitlines() if "| kmnist | tinymlp | row-norm |" in line]
    assert "| 60.00 ± — |" in row  # FC sparsity (%), one seed
    assert (out / "figures" / "accuracy_vs_sparsity.png").stat().st_size > 0
