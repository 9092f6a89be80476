"""`weightswitch bench snn`: the switcher step with the speed option (`snn_compile`) on and off.

For each arch and gate granularity, two identically seeded runs are set up exactly as
`weightswitch train` does, one with `switcher.snn_compile` on and one with it off
(`switcher.snn_compile=false`: plain eager PyTorch). Per phase (TNN: W trains, the SNN's conv
kernels are frozen; SNN: W frozen, the whole SNN trains):

1. one check step on the same batch in both, without an optimiser step: the largest absolute
   difference of the gates (`gate d`) and the largest difference of any gradient relative to
   that gradient's largest entry (`grad d rel`), compiled vs eager; for scale, the same two
   numbers for eager against a float64 copy of the model (`eager-f64`): the switcher's gates
   amplify float rounding, so the compiled run can be no closer to eager than eager is to exact.
   The time of that first step, minus eager's, is the compilation (`compile s`);
2. timed training steps through the real loop, eager and compiled chunks interleaved so that
   load from other processes hits both alike; median seconds per step and their ratio.

`--breakdown` adds, per switched layer, SNN level and phase, the eager forward and backward
milliseconds (module hooks; the compiled graph fuses levels, so only its total is timed).
"""

from __future__ import annotations

import copy
import itertools
import statistics
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from weightswitch.bench.train import _data, _state, _sync
from weightswitch.errors import UsageError
from weightswitch.options import option

GATES = {"connection": "switcher", "neuron": "switcher-neuron"}
# Step timings: wall clock, or with --clock cpu the CPU time of the calling thread (with one
# torch thread it does all the work), which preemption on a loaded machine does not inflate.
CLOCKS: dict[str, Callable[[], float]] = {"wall": time.perf_counter, "cpu": time.thread_time}
CLOCK = [time.perf_counter]
PHASES = ("tnn", "snn")  # epoch 0 and epoch 1 of a switcher run without warm-up


@dataclass(frozen=True)
class Options:
    """`bench snn`'s options."""

    arch: list[str] = option(default_factory=lambda: ["lenet300", "lenet5"], nargs="+")
    gates: list[str] = option(default_factory=lambda: list(GATES), nargs="+", choices=list(GATES))
    dataset: str = option(default="mnist")
    root: str | None = option("prepared data; default: synthetic", default=None)
    steps: int = option("timed steps per chunk", default=3)
    repeats: int = option("interleaved eager/compiled chunks per phase (median)", default=3)
    batch_size: int = option(default=64)
    lr: float = option(default=0.1)
    params: str = option(
        "methods settings: its `methods` section, if present", default="params.yaml"
    )
    breakdown: bool = option("eager time per switched layer, SNN level and phase", default=False)
    only_breakdown: bool = option(
        "the breakdown alone (eager only: nothing compiles)", default=False
    )
    threads: int | None = option("torch threads", default=None)
    clock: str = option(
        "cpu: this thread's CPU time (needs --threads 1); for loaded machines",
        default="wall",
        choices=list(CLOCKS),
    )
    device: str = option("cpu | cuda | auto", default="cpu")
    seed: int = option(default=0)


def run(options: Options) -> int:
    from weightswitch.data import BatchIterator, get_spec
    from weightswitch.train.runner import _setup_determinism, resolve_device

    if options.threads:
        torch.set_num_threads(options.threads)
    device = resolve_device(options.device)
    if options.clock == "cpu" and (torch.get_num_threads() != 1 or device.type != "cpu"):
        raise UsageError("--clock cpu needs --threads 1 and --device cpu")
    CLOCK[0] = CLOCKS[options.clock]
    _setup_determinism(device)  # what `weightswitch train` runs under
    spec = get_spec(options.dataset)
    images, labels, source = _data(options, spec, (options.steps * options.repeats + 4) * 2)
    batches = BatchIterator(
        images,
        labels,
        spec,
        options.batch_size,
        shuffle=True,
        augment=False,
        device=device,
        seed=options.seed,
    )
    print(
        f"bench snn: {source}; batch {options.batch_size}; {device}, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads, {options.clock} clock; "
        f"{options.repeats} x {options.steps} timed steps per phase and setting"
    )
    header = (
        f"{'arch':<9} {'gates':<10} {'phase':<5} {'eager ms':>9} {'compiled ms':>11} "
        f"{'ratio':>6} {'compile s':>9} {'gate d':>8} {'grad d rel':>10} "
        f"{'eager-f64 gate, grad rel':>24}"
    )
    if not options.only_breakdown:
        print(header)
        print("-" * len(header))
    rows = []
    for arch, gates in itertools.product(options.arch, options.gates):
        if not options.only_breakdown:
            rows += _compare(arch, GATES[gates], gates, options, batches, device)
    if options.breakdown or options.only_breakdown:
        for arch, gates in itertools.product(options.arch, options.gates):
            _breakdown(arch, GATES[gates], gates, options, batches, device)
    if rows:
        worst = max(r["ratio"] for r in rows)
        print(f"worst ratio compiled/eager: {worst:.2f} (target <= 0.50)")
    return 0


def _compare(
    arch: str, method: str, gates: str, options: Options, batches: Any, device: torch.device
) -> list[dict[str, float]]:
    from weightswitch.switcher import switched_layers
    from weightswitch.train.loop import train_epoch

    runs = {}
    for name, compiled in (("eager", False), ("compiled", True)):
        runs[name] = _state(arch, method, options, device, {"switcher.snn_compile": compiled})
    sync = _sync(device)
    rows = []
    for epoch, phase in enumerate(PHASES):
        batches.set_epoch(epoch)
        it = iter(batches)
        for state, meth in runs.values():
            meth.on_epoch_start(state, epoch)  # epoch 0 attaches the SNNs (drawing random init)
        # the check starts both from the same weights: the SNN initialisation (epoch 0) and the
        # previous phase's training (the two runs trained on different batches of `it`)
        runs["compiled"][0].model.load_state_dict(runs["eager"][0].model.state_dict())
        x, y = next(it)
        first = {}
        grads = {}
        for name, (state, _) in runs.items():
            sync()
            start = time.perf_counter()
            grads[name] = _gates_and_grads(state.model, x, y)
            sync()
            first[name] = time.perf_counter() - start
        exact = _float64_step(runs["eager"][0].model, x, y)
        n = len(switched_layers(runs["eager"][0].model))
        diff = _diffs(grads["compiled"], grads["eager"], n)
        err = _diffs(grads["eager"], exact, n)
        times: dict[str, list[float]] = {name: [] for name in runs}
        chunks = itertools.chain([1], itertools.repeat(options.steps, options.repeats))
        for i, steps in enumerate(chunks):  # the first chunk of 1 step: warm-up, untimed
            for name, (state, _) in runs.items():
                sync()
                start = CLOCK[0]()
                train_epoch(state, itertools.islice(it, steps), [])
                sync()
                if i:
                    times[name].append((CLOCK[0]() - start) / steps)
        eager, compiled = (statistics.median(times[n]) for n in ("eager", "compiled"))
        row = {
            "eager": eager,
            "compiled": compiled,
            "ratio": compiled / eager,
            "compile": max(first["compiled"] - first["eager"], 0.0),
        }
        print(
            f"{arch:<9} {gates:<10} {phase:<5} {eager * 1e3:>9.1f} {compiled * 1e3:>11.1f} "
            f"{row['ratio']:>6.2f} {row['compile']:>9.1f} {diff[0]:>8.1e} {diff[1]:>10.1e} "
            f"{err[0]:>15.1e}, {err[1]:.1e}",
            flush=True,
        )
        rows.append(row)
    return rows


def _gates_and_grads(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> list[torch.Tensor]:
    """Every layer's training gates, then every gradient of one loss (no optimiser step)."""
    from weightswitch.switcher import switched_layers

    model.train()
    model.zero_grad(set_to_none=True)
    out = [layer.gates().detach() for layer in switched_layers(model).values()]
    F.cross_entropy(model(x), y).backward()
    out += [p.grad for p in model.parameters() if p.grad is not None]
    model.zero_grad(set_to_none=True)
    return out


def _diffs(got: list[torch.Tensor], want: list[torch.Tensor], n: int) -> tuple[float, float]:
    """(largest |gate difference| over the first `n` tensors, largest relative difference of
    the gradients after them)."""
    pairs = list(zip(got, want, strict=True))
    gates = max((a - b).abs().max().item() for a, b in pairs[:n])
    grads = max(((a - b).abs().max() / b.abs().max().clamp_min(1e-30)).item() for a, b in pairs[n:])
    return gates, grads


def _float64_step(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> list[torch.Tensor]:
    """`_gates_and_grads` of an eager float64 copy of `model` (results cast back to float32)."""
    from weightswitch.switcher.speed import set_snn_compile

    exact = copy.deepcopy(model).double()
    set_snn_compile(exact, False)
    return [t.float() for t in _gates_and_grads(exact, x.double(), y)]


# ---------------------------------------------------------------------------- breakdown


def _levels(snn: nn.Module) -> Iterator[tuple[str, list[nn.Module]]]:
    """(label, modules) per U-Net level: its pool in, encoder, up-conv into it, decoder."""
    unet = snn.unet
    for i, (h, w) in enumerate(unet.sizes):
        mods = [unet.encoders[i]]
        if i:
            mods.insert(0, unet.pools[i - 1])
        if i < len(unet.ups):
            mods += [unet.ups[i], unet.decoders[i]]
        yield f"L{i} {h}x{w}x{unet.widths[i]}", mods
    yield "head", [unet.head]
    if snn.neuron_head is not None:
        yield "neuron head", [snn.neuron_head]


def _hook_times(snn: nn.Module, sync: Callable[[], None]) -> tuple[dict[str, list[float]], list]:
    """Accumulate forward / backward seconds per level via module hooks."""
    acc: dict[str, list[float]] = {}
    handles = []
    for label, mods in _levels(snn):
        acc[label] = [0.0, 0.0]
        for m in mods:
            for pre, post, slot in (
                (m.register_forward_pre_hook, m.register_forward_hook, 0),
                (m.register_full_backward_pre_hook, m.register_full_backward_hook, 1),
            ):
                clock: dict[str, float] = {}

                def start(*_: Any, clock: dict[str, float] = clock) -> None:
                    sync()
                    clock["t"] = CLOCK[0]()

                def stop(
                    *_: Any, clock: dict[str, float] = clock, label: str = label, slot: int = slot
                ) -> None:
                    sync()
                    acc[label][slot] += CLOCK[0]() - clock["t"]

                handles += [pre(start), post(stop)]
    return acc, handles


def _breakdown(
    arch: str, method: str, gates: str, options: Options, batches: Any, device: torch.device
) -> None:
    """Eager ms per switched layer x SNN level x phase (forward, backward)."""
    from weightswitch.switcher import switched_layers

    state, meth = _state(arch, method, options, device, {"switcher.snn_compile": False})
    sync = _sync(device)
    print(f"\nbreakdown {arch} {gates} gates (eager, ms per step: forward / backward)")
    x, y = next(iter(batches))
    for epoch, phase in enumerate(PHASES):
        meth.on_epoch_start(state, epoch)
        for name, layer in switched_layers(state.model).items():
            acc, handles = _hook_times(layer.snn, sync)
            totals = []
            for rep in range(options.repeats + 1):
                for v in acc.values():
                    v[:] = [0.0, 0.0]
                sync()
                start = CLOCK[0]()
                state.model.zero_grad(set_to_none=True)
                with warnings.catch_warnings():  # level 0's input (W) has no grad in SNN phases
                    warnings.simplefilter("ignore", UserWarning)
                    F.cross_entropy(state.model(x), y).backward()
                sync()
                if rep:
                    levels = {k: list(v) for k, v in acc.items()}
                    totals.append((CLOCK[0]() - start, levels))
            for h in handles:
                h.remove()
            total, levels = sorted(totals, key=lambda t: t[0])[len(totals) // 2]
            parts = "  ".join(f"{k} {f * 1e3:.1f}/{b * 1e3:.1f}" for k, (f, b) in levels.items())
            print(
                f"  {phase} {name} ({layer.in_features}x{layer.out_features}): step "
                f"{total * 1e3:.1f} ms: {parts}",
                flush=True,
            )
    state.model.zero_grad(set_to_none=True)
