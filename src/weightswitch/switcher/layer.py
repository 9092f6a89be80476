"""`SwitchedLinear`: a fully connected layer whose weights are gated by its own SNN."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from weightswitch.catalog import GATE_NETS, SNN_INPUTS
from weightswitch.errors import UsageError, unknown_choice
from weightswitch.switcher import speed
from weightswitch.switcher.free import FreeGates
from weightswitch.switcher.unet import SwitcherNet


class SwitchedLinear(nn.Module, speed.CompiledGates):
    """y = x (W * G)^T + b (connection) or y = (x * g) W^T + b (neuron); the bias is never gated.

    Ablations (issue 12): `snn_input="noise"` makes the SNN read the fixed buffer `snn_image`
    (W's shape; see `draw_noise`) instead of W, so the gates no longer depend on W (W still
    gets the gated gradient of y); `gate_net="free"` replaces the SNN by `FreeGates`.

    G = snn(W) is recomputed from the current W on every forward that may need gradients (both
    W, through the gate computation, and the SNN receive them). When gradients are off
    (evaluation, statistics), the gates are cached and recomputed only when W or an SNN
    parameter changed (tracked by tensor storage and in-place version counters): the SNN's
    BatchNorms use the image's own statistics in every mode, so the cache is exact.

    `snn_compile` (see `switcher.speed`): the gradient-carrying gate computation runs through
    a compiled copy of the SNN's forward and backward; the module and its state are unchanged.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        granularity: str = "connection",
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
        gate_net: str = "unet",
        snn_input: str = "weights",
        **snn_kwargs: Any,
    ) -> None:
        super().__init__()
        for kind, value, choices in (
            ("gate_net", gate_net, GATE_NETS),
            ("snn_input", snn_input, SNN_INPUTS),
        ):
            if value not in choices:
                raise unknown_choice(kind, value, choices)
        if gate_net == "free" and (snn_input != "weights" or snn_kwargs):
            raise UsageError("gate_net 'free' has no SNN: it takes no snn_input or SNN options")
        self.in_features, self.out_features = in_features, out_features
        self.gate_net, self.snn_input = gate_net, snn_input
        factory = {"device": device, "dtype": dtype}
        self.weight = nn.Parameter(torch.empty(out_features, in_features, **factory))
        self.bias = nn.Parameter(torch.empty(out_features, **factory)) if bias else None
        self.snn: SwitcherNet | FreeGates
        if gate_net == "free":
            self.snn = FreeGates(in_features, out_features, granularity)
        else:
            self.snn = SwitcherNet(in_features, out_features, granularity, **snn_kwargs)
        self.snn.to(**{k: v for k, v in factory.items() if v is not None})
        # the noise image lives in the state dict (checkpoints, exact resume)
        image = torch.zeros(out_features, in_features, **factory) if snn_input == "noise" else None
        self.register_buffer("snn_image", image)
        self._gate_cache: tuple[tuple, Tensor, Tensor] | None = None
        self._snn_modules: tuple[nn.Module, tuple[nn.Module, ...]] | None = None
        self.snn_compile = False
        self._compiled: Callable[[Tensor], Tensor] | None = None
        nn.init.normal_(self.weight, 0.0, 0.01)
        if self.bias is not None:
            nn.init.uniform_(self.bias, -1 / math.sqrt(in_features), 1 / math.sqrt(in_features))

    @property
    def granularity(self) -> str:
        return self.snn.granularity

    @classmethod
    def from_linear(
        cls, linear: nn.Linear, granularity: str = "connection", **kwargs: Any
    ) -> SwitchedLinear:
        """Wrap `linear`, keeping its very weight and bias Parameters (no copy). `kwargs`:
        gate_net, snn_input and the SNN's options."""
        layer = cls(
            linear.in_features,
            linear.out_features,
            linear.bias is not None,
            granularity,
            device=linear.weight.device,
            dtype=linear.weight.dtype,
            **kwargs,
        )
        layer.weight = linear.weight
        layer.bias = linear.bias
        layer.train(linear.training)
        return layer

    @torch.no_grad()
    def draw_noise(self, std: float, generator: torch.Generator) -> None:
        """Fill `snn_image` with N(0, std^2) drawn on the CPU from `generator` (so the global
        RNG, and with it every other draw of the run, is the same as without noise)."""
        if self.snn_image is None:
            raise UsageError("draw_noise needs a layer built with snn_input='noise'")
        noise = torch.randn(self.snn_image.shape, generator=generator, dtype=torch.float32)
        self.snn_image.copy_(noise.mul_(std))

    def snn_source(self) -> Tensor:
        """What the SNN reads: W, or the fixed noise image."""
        return self.weight if self.snn_image is None else self.snn_image

    def _cache_key(self) -> tuple:
        """Changes whenever W, the noise image or an SNN parameter is replaced or modified in
        place."""
        snn = self.snn
        if self._snn_modules is None or self._snn_modules[0] is not snn:
            self._snn_modules = (snn, tuple(snn.modules()))  # walking modules is slow
        params = [self.weight, self.snn_source()]
        params += [p for m in self._snn_modules[1] for p in m._parameters.values() if p is not None]
        return (torch.is_autocast_enabled(), *((p.data_ptr(), p._version) for p in params))

    def _cached(self) -> tuple[Tensor, Tensor]:
        """(gates, effective weight), recomputed only when the key changed; no-grad mode only."""
        key = self._cache_key()
        if self._gate_cache is None or self._gate_cache[0] != key:
            gates = self.snn(self.snn_source())
            self._gate_cache = (key, gates, self.weight * gates)
        return self._gate_cache[1], self._gate_cache[2]

    def gates(self) -> Tensor:
        """G >= 0 for the current W: out x in (connection) or [in] (neuron)."""
        if torch.is_grad_enabled():
            self._gate_cache = None  # training: W or the SNN change every step
            return self.run_snn(self.snn_source())
        return self._cached()[0]

    def effective_weight(self) -> Tensor:
        """W * G; neuron gates scale whole input columns."""
        if torch.is_grad_enabled():
            return self.weight * self.gates()
        return self._cached()[1]

    def forward(self, x: Tensor) -> Tensor:
        # (x * g) W^T == x (W * g)^T: one code path for both granularities, identical in
        # training, evaluation and the exported model.
        return F.linear(x, self.effective_weight(), self.bias)

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        # derived: never pickled/copied (a copy compiles its own SNN on first use)
        state["_gate_cache"] = state["_snn_modules"] = state["_compiled"] = None
        return state

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"bias={self.bias is not None}, granularity={self.granularity}, "
            f"gate_net={self.gate_net}, snn_input={self.snn_input}"
        )
