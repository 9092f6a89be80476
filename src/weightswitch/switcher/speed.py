"""Speed options of the SNN gate computation (issue 11; docs/notebook.md, "Switcher speed").

The SNN runs a U-Net over every switched weight matrix at every training step and takes
96-99% of a switcher step. Its convolutions already run near the CPU's peak in oneDNN; what
eager PyTorch wastes is the glue between them: each BatchNorm over one image, ReLU, max-pool
and concat is a separate pass over memory, forward and backward.

`snn_compile` compiles each SNN with torch.compile (inductor, `dynamic=False`: one graph per
weight shape and phase). Inductor fuses that glue into a few kernels, computes BatchNorm
statistics with Welford reductions (as accurate as eager) and lays the convolutions out
channels-last for oneDNN on CPU. Only the gradient-carrying forward (training) is compiled;
gates without gradients (evaluation, statistics, export) are computed once per weight
change, eagerly.

Eager channels-last is not offered: its CPU BatchNorm loses accuracy (784x300 gates against a
float64 reference: 1.7e-4 channels-last, 1.8e-5 NCHW; `studies/snn_layout_accuracy.py`),
which the switcher's gates are sensitive to.

Where compilation is unavailable (no C++ compiler, unsupported platform), the layer says so
once on stderr and runs eagerly.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

from torch import Tensor, nn

# Every (weight shape, phase) is one compiled graph; a run has a handful, a test process
# many. Dynamo's default limit (8 per code object) would silently fall back to eager.
RECOMPILE_LIMIT = 64
_said: set[str] = set()


def say_once(key: str, message: str) -> None:
    """Print `message` to stderr the first time `key` is seen in this process."""
    if key not in _said:
        _said.add(key)
        print(f"weightswitch: {message}", file=sys.stderr, flush=True)


def compile_snn(snn: nn.Module) -> Callable[[Tensor], Tensor] | None:
    """`torch.compile(snn.forward, dynamic=False)`, or None (said once) where unavailable."""
    try:
        import torch._dynamo

        config = torch._dynamo.config
        config.recompile_limit = max(config.recompile_limit, RECOMPILE_LIMIT)
        # the bound forward, not the module: an OptimizedModule stored on the layer would
        # register as a submodule and duplicate the SNN's entries in the state dict
        return torch.compile(snn.forward, dynamic=False)
    except Exception as exc:  # any failure means: run eagerly
        unavailable(exc)
        return None


def unavailable(exc: BaseException) -> None:
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    say_once("snn_compile", f"snn_compile unavailable ({first[:200]}); the SNN runs eagerly")


class CompiledGates:
    """Mixin of a layer whose gradient-carrying gates may come from its SNN compiled:
    `snn_compile` (asked for), `_compiled` (the compiled forward, made on first use, None
    while eager). The layer holds its SNN as `snn`."""

    snn: nn.Module
    snn_compile: bool = False
    _compiled: Callable[[Tensor], Tensor] | None = None

    def set_compile(self, enabled: bool) -> None:
        """Compile (or stop compiling) the gradient-carrying gate computation."""
        self.snn_compile, self._compiled = enabled, None

    def run_snn(self, source: Tensor) -> Tensor:
        """`snn(source)`, through the compiled forward when asked for (eager where
        compilation is unavailable or fails, said once)."""
        if self.snn_compile and self._compiled is None:
            self._compiled = compile_snn(self.snn)
            self.snn_compile = self._compiled is not None
        if self._compiled is not None:
            try:
                return self._compiled(source)
            except Exception as exc:  # a backend failure: fall back to eager, said once
                unavailable(exc)
                self.set_compile(False)
        return self.snn(source)


def set_snn_compile(model: nn.Module, enabled: bool) -> None:
    """Turn compiled gate computation on or off for every switched layer of `model`."""
    for module in model.modules():
        if isinstance(module, CompiledGates):
            module.set_compile(enabled)
