"""Issue 12: the switcher's ablations (switcher-noise, free-gates) and the pruning frontier
(fixed sparsities, iterative magnitude pruning), through the real CLI on the fake data."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from test_train import LAYERS, exported, history, metrics, train_cli
from weightswitch import checkpoint
from weightswitch.errors import UsageError
from weightswitch.models import build_model
from weightswitch.switcher import FreeGates, SwitcherNet, attach_switcher, switched_layers
from weightswitch.switcher.unet import NeuronHead


def tiny_model() -> torch.nn.Module:
    torch.manual_seed(0)
    return build_model("lenet300", "mnist", hidden=[32, 16], fc_bias=False)


# ------------------------------------------------------------------ units: the gate sources


def test_noise_image_is_seeded_fixed_and_independent_of_w() -> None:
    model = attach_switcher(tiny_model(), snn_input="noise", noise_seed=3, noise_std=0.01)
    layers = switched_layers(model)
    expected = torch.Generator().manual_seed(3)
    for layer in layers.values():  # drawn layer after layer from the run's seed, std given
        draw = torch.randn(layer.weight.shape, generator=expected) * 0.01
        assert torch.equal(layer.snn_image, draw)
    fc1 = layers["fc1"]
    assert "fc1.snn_image" in model.state_dict()  # checkpointed: an exact resume
    before = fc1.gates().detach().clone()
    (grad,) = torch.autograd.grad(fc1.gates().sum(), fc1.weight, allow_unused=True)
    assert grad is None  # the gates do not depend on W
    image = fc1.snn_image.clone()
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    for _ in range(3):  # W and the SNN change; the image does not
        opt.zero_grad()
        model(torch.rand(8, 1, 28, 28)).logsumexp(1).mean().backward()
        opt.step()
    assert torch.equal(fc1.snn_image, image)
    with torch.no_grad():
        snn = {k: v.clone() for k, v in fc1.snn.state_dict().items()}
        fc1.weight.mul_(-3.0).add_(1.0)  # a very different W, same SNN
        after = fc1.gates()
        fc1.snn.load_state_dict(snn)
    assert torch.equal(after, fc1.gates())
    assert not torch.equal(after, before)  # the SNN itself trained
    default = attach_switcher(tiny_model(), snn_input="noise")  # std of W by default
    fc2 = default.get_submodule("fc2")
    assert abs(float(fc2.snn_image.std()) / float(fc2.weight.detach().std()) - 1) < 0.2


@pytest.mark.parametrize("granularity", ["connection", "neuron"])
def test_free_gates_are_the_snn_heads_normalisation_and_relu(granularity: str) -> None:
    torch.manual_seed(0)
    free = FreeGates(12, 5, granularity)
    snn = SwitcherNet(12, 5, granularity)
    head = snn.neuron_head.layers[2:] if granularity == "neuron" else snn.unet.head[1:]
    with torch.no_grad():  # non-default affine on both, the same values
        for norm in (head[0], free.head[0]):
            norm.weight.fill_(1.7)
            norm.bias.fill_(-0.3)
    for mode in (True, False):  # the same function in training and evaluation
        free.train(mode)
        head.train(mode)
        reference = head(free.scores[None, None])[0, 0]  # [in, out] or [in, 1]
        gates = free(torch.randn(5, 12))  # the input is ignored
        want = reference.t() if granularity == "connection" else reference[:, 0]
        assert torch.equal(gates, want)
    assert gates.shape == ((5, 12) if granularity == "connection" else (12,))
    assert 0.2 < float((gates == 0).float().mean()) < 0.8  # N(0, 1) scores: about half off
    assert isinstance(snn.neuron_head, NeuronHead) == (granularity == "neuron")


def test_bad_gate_options_fail_clearly() -> None:
    with pytest.raises(UsageError, match=r"unknown gate_net 'mlp'.*unet, free"):
        attach_switcher(tiny_model(), gate_net="mlp")
    with pytest.raises(UsageError, match="no SNN"):
        attach_switcher(tiny_model(), gate_net="free", snn_input="noise")
    from weightswitch.config import build_config

    with pytest.raises(UsageError, match="switcher uses snn_input 'weights', got 'noise'"):
        build_config("lenet300", "mnist", "switcher", overrides={"switcher.snn_input": "noise"})
    with pytest.raises(UsageError, match="needs finetune_epochs >= 1"):
        build_config(
            "lenet300", "mnist", "iterative", {}, {"prune.sparsity": 0.5, "prune.steps": 3}
        )


# ------------------------------------------------------------------ the CLI, on fake data


@pytest.mark.parametrize("method", ["switcher-noise", "free-gates", "free-gates-neuron"])
def test_ablation_trains_through_cli(prepared_root: Path, tmp_path: Path, method: str) -> None:
    out = tmp_path / method
    assert train_cli(prepared_root, out, method, "--epochs", "2") == 0
    m = metrics(out)
    assert m["method"] == method and [r["phase"] for r in history(out)] == ["tnn", "snn"]
    sw = m["config"]["switcher"]
    neuron = method.endswith("neuron")
    assert (sw["gate_net"], sw["snn_input"], sw["granularity"]) == (
        "unet" if method == "switcher-noise" else "free",
        "noise" if method == "switcher-noise" else "weights",
        "neuron" if neuron else "connection",
    )
    if method != "switcher-noise":  # a score per gate + the normalisation's weight and bias
        gates = {"fc1": 784 * 32, "fc2": 32 * 16, "fc3": 16 * 10}
        if neuron:
            gates = {"fc1": 784, "fc2": 32, "fc3": 16}
        assert m["snn_params"] == sum(gates.values()) + 2 * len(gates)
    assert 0.05 < m["fc_sparsity"] < 0.95
    assert abs(m["exported_test_accuracy"] - m["test_accuracy"]) <= 0.01
    assert set(torch.load(out / "gates.pt", weights_only=True)) == set(LAYERS)
    if method == "switcher-noise":  # the image in the final checkpoint: N(0, 1) from seed 0,
        state = checkpoint.load(out / "checkpoint.pt")["model"]
        generator = torch.Generator().manual_seed(0)
        for name in LAYERS:  # scaled by the std of W's initial values (reference: 0.01)
            image = state[f"{name}.snn_image"]
            base = torch.randn(image.shape, generator=generator)
            scale = float((image / base).mean())
            assert abs(scale - 0.01) < 0.001 and torch.allclose(image, base * scale)


@pytest.fixture(scope="module")
def dense(prepared_root: Path, tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    out = tmp_path_factory.mktemp("frontier") / "dense"
    assert train_cli(prepared_root, out, "dense", "--epochs", "2") == 0
    return SimpleNamespace(root=prepared_root, run=out)


def _zeros(run: Path) -> dict[str, int]:
    plain = exported(run)
    return {n: int((plain.get_submodule(n).weight == 0).sum()) for n in LAYERS}


@pytest.mark.parametrize("sparsity", [0.5, 0.98])
def test_frontier_hits_each_layers_target_and_iterative_the_same(
    dense: SimpleNamespace, tmp_path: Path, sparsity: float
) -> None:
    want = {n: round(sparsity * size) for n, size in LAYERS.items()}
    zeros = {}
    for method, extra in (("magnitude", ()), ("random", ()), ("iterative", ("--prune-steps", "3"))):
        out = tmp_path / method
        rc = train_cli(
            dense.root,
            out,
            method,
            "--sparsity",
            str(sparsity),
            "--init-from",
            str(dense.run),
            "--finetune-epochs",
            "1",
            *extra,
        )
        assert rc == 0
        m = metrics(out)
        zeros[method] = _zeros(out)
        assert zeros[method] == want, method  # exactly, per layer, after fine-tuning
        assert {n: round(s * LAYERS[n]) for n, s in m["layer_sparsity"].items()} == want
        assert m["target_sparsity"] == sparsity and m["matched_run"] is None
    rows = history(tmp_path / "iterative")
    assert [r["phase"] for r in rows] == ["dense"] * 2 + ["finetune"] * 3  # 3 rounds x 1 epoch
    assert metrics(tmp_path / "iterative")["prune_steps"] == 3
    # the rounds: the FC sparsity recorded after each fine-tuning epoch grows geometrically
    # towards the target (kept fraction (1 - s)^(j/3)) and ends on it
    total = sum(LAYERS.values())
    kept = [1 - float(r["fc_sparsity"]) for r in rows[2:]]
    for j, value in enumerate(kept, start=1):
        assert abs(value - (1 - sparsity) ** (j / 3)) * total <= len(LAYERS)
