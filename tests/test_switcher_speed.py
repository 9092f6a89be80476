"""Speed options of the SNN (`snn_compile`): same gates and gradients as plain eager PyTorch,
and a clean fallback where compilation is unavailable.

Small 2-level SNNs keep compilation to seconds; the full-size comparison is printed by
`weightswitch bench snn` (its `max|diff|` column).
"""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F

from weightswitch.switcher import SwitchedLinear, speed

SNN = {"widths": (4, 8)}  # 2 levels for a 24 x 20 weight image


def _phase(layer: SwitchedLinear, phase: str) -> None:
    """The phase semantics of docs/method.md: TNN trains W and the SNN's BatchNorm affine
    parameters (conv kernels frozen); SNN trains the whole SNN, W frozen."""
    layer.weight.requires_grad_(phase == "tnn")
    for p in layer.snn.parameters():
        p.requires_grad_(phase == "snn" or p.dim() == 1)  # 1-D: BatchNorm weight and bias


def _step(layer: SwitchedLinear, x: torch.Tensor, y: torch.Tensor) -> dict[str, torch.Tensor]:
    layer.zero_grad(set_to_none=True)
    gates = layer.gates()
    F.cross_entropy(F.linear(x, layer.weight * gates, layer.bias), y).backward()
    out = {"gates": gates.detach()}
    out.update({n: p.grad for n, p in layer.named_parameters() if p.grad is not None})
    return out


@pytest.mark.parametrize("granularity", ["connection", "neuron"])
def test_compiled_gates_and_gradients_match_eager(granularity: str) -> None:
    torch.manual_seed(0)
    eager = SwitchedLinear(24, 20, granularity=granularity, **SNN)
    fast = copy.deepcopy(eager)
    fast.set_compile(True)
    x, y = torch.rand(32, 24), torch.randint(0, 20, (32,))
    for phase in ("tnn", "snn"):
        _phase(eager, phase)
        _phase(fast, phase)
        want, got = _step(eager, x, y), _step(fast, x, y)
        assert fast.snn_compile and fast._compiled is not None, "compile fell back to eager"
        assert set(got) == set(want)
        expected = {"weight"} if phase == "tnn" else {n for n, _ in eager.snn.named_parameters()}
        assert {n.removeprefix("snn.") for n in want if n != "gates"} >= expected
        for name, value in want.items():
            diff = (got[name] - value).abs().max().item()
            assert diff <= 1e-5, f"{phase} {name}: max abs diff {diff:.2e}"
        assert not torch.equal(got["gates"], torch.zeros_like(got["gates"]))
    assert fast.state_dict().keys() == eager.state_dict().keys()  # checkpoints unchanged
    assert [n for n, _ in fast.named_modules()] == [n for n, _ in eager.named_modules()]


def test_tnn_phase_computes_no_snn_kernel_gradients() -> None:
    """Only the gradient through the gates reaches W; frozen kernels get none."""
    torch.manual_seed(0)
    layer = SwitchedLinear(24, 20, **SNN)
    _phase(layer, "tnn")
    grads = _step(layer, torch.rand(8, 24), torch.randint(0, 20, (8,)))
    kernels = [n for n, p in layer.snn.named_parameters() if p.dim() == 4]
    assert kernels and not any(f"snn.{n}" in grads for n in kernels)
    assert "weight" in grads and "snn.unet.head.1.weight" in grads


def test_compile_unavailable_falls_back_once(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken(*_: object, **__: object) -> object:
        raise RuntimeError("no C++ compiler found\nsecond line")

    monkeypatch.setattr(torch, "compile", broken)
    monkeypatch.setattr(speed, "_said", set())
    torch.manual_seed(0)
    layers = [SwitchedLinear(24, 20, **SNN) for _ in range(2)]
    for layer in layers:
        layer.set_compile(True)
        eager = layer.snn(layer.weight)
        assert torch.equal(layer.gates(), eager)
        assert not layer.snn_compile
    err = capsys.readouterr().err
    assert err.count("snn_compile unavailable (no C++ compiler found)") == 1, err
    assert "second line" not in err


def test_backend_failure_at_first_call_falls_back(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def failing(snn: torch.nn.Module, **_: object) -> object:
        def call(_: torch.Tensor) -> torch.Tensor:
            raise RuntimeError("inductor: backend compiler failed")

        return call

    monkeypatch.setattr(torch, "compile", failing)
    monkeypatch.setattr(speed, "_said", set())
    torch.manual_seed(0)
    layer = SwitchedLinear(24, 20, **SNN)
    layer.set_compile(True)
    gates = layer.gates()
    assert torch.equal(gates, layer.snn(layer.weight)) and not layer.snn_compile
    assert "snn_compile unavailable (inductor: backend compiler failed)" in capsys.readouterr().err


def test_copies_and_pickles_drop_the_compiled_snn() -> None:
    layer = SwitchedLinear(24, 20, **SNN)
    layer.set_compile(True)
    layer._compiled = speed.compile_snn(layer.snn)  # compiles lazily: nothing runs here
    assert layer._compiled is not None
    assert layer.state_dict().keys() == SwitchedLinear(24, 20, **SNN).state_dict().keys()
    clone = copy.deepcopy(layer)
    assert clone._compiled is None and clone.snn_compile
