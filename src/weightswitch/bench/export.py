"""`weightswitch bench export`: what switching buys at inference time.

For each arch, a dense model against the exported switched model (`switcher.export`: plain
`nn.Linear` layers holding `W * G`; neuron gates physically remove switched-off units):
parameters, non-zero parameters, serialized size and CPU latency at batch 1 and 256. The
switched model itself (eval mode, cached gates) is timed too, to show that the SNN costs
nothing at inference once gates are cached. Gates are those right after initialisation unless
`--checkpoint` gives a finished run (switcher or pruned). `--snn-shapes` adds SNN forward
(and forward + backward) timings for large weight matrices.
"""

from __future__ import annotations

import io
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn.utils import prune

from weightswitch import checkpoint
from weightswitch.data.registry import get_spec
from weightswitch.errors import UsageError, WeightswitchError
from weightswitch.models import build_model, get_arch
from weightswitch.options import option
from weightswitch.switcher import (
    GRANULARITIES,
    SwitcherNet,
    attach_switcher,
    export,
    gate_stats,
    init_switched_weights,
    switched_layers,
)


@dataclass(frozen=True)
class Options:
    """`bench export`'s options."""

    arch: list[str] = option("archs", default_factory=lambda: ["lenet300", "lenet5"], nargs="+")
    dataset: str | None = option("default: the arch's first dataset", default=None)
    granularity: list[str] = option(
        default_factory=lambda: list(GRANULARITIES), nargs="+", choices=GRANULARITIES
    )
    checkpoint: Path | None = option(
        "a run's checkpoint.pt: its arch, dataset, model options and gates replace the above",
        default=None,
    )
    batch_sizes: list[int] = option(default_factory=lambda: [1, 256], nargs="+")
    min_seconds: float = option("timing per measurement", default=0.5)
    threads: int | None = option("torch CPU threads", default=None)
    device: str = option("device for latencies", default="cpu")
    snn_shapes: list[str] = option(
        "e.g. 4096x512 4096x4096", default_factory=list, metavar="INxOUT"
    )
    seed: int = option(default=0)


def serialized_bytes(model: nn.Module) -> int:
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    return buffer.getbuffer().nbytes


def time_call(fn: Callable[[], Any], device: torch.device, min_seconds: float) -> float:
    """Median seconds of one call, over repeats filling about `min_seconds` after warm-up."""
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    for _ in range(2):
        fn()
    sync()
    times: list[float] = []
    deadline = time.perf_counter() + min_seconds
    while len(times) < 3 or (time.perf_counter() < deadline and len(times) < 1000):
        start = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _from_checkpoint(path: Path) -> tuple[str, str, str, nn.Module]:
    """(arch, dataset, label, model) of a finished run's checkpoint."""
    ckpt = checkpoint.load(path)  # checksummed, weights_only: a planted pickle runs nothing
    try:
        cfg, state = ckpt["config"], ckpt["model"]
    except KeyError as exc:
        raise WeightswitchError(
            f"checkpoint {path} has no {exc} entry: not a run's checkpoint.pt"
        ) from None
    model = build_model(cfg["arch"], cfg["dataset"], **(cfg.get("model") or {}))
    if cfg.get("switcher"):
        attach_switcher(model, cfg["switcher"].get("granularity", "connection"))
    for key in state:  # pruned runs: re-create the masks' reparametrisation first
        if key.endswith(".weight_mask"):
            prune.identity(model.get_submodule(key.rpartition(".")[0]), "weight")
    model.load_state_dict(state)
    return cfg["arch"], cfg["dataset"], cfg.get("method", "checkpoint"), model


def _measure(
    label: str, model: nn.Module, shape: tuple[int, ...], options: Options
) -> dict[str, Any]:
    device = torch.device(options.device)
    model = model.to(device).eval()
    stats = gate_stats(model)
    row: dict[str, Any] = {
        "model": label,
        "params": stats["total_params"],
        "nonzero": stats["nonzero_params"],
        "fc_sparsity": stats["fc_sparsity"],
        "bytes": serialized_bytes(model),
    }
    for batch in options.batch_sizes:
        x = torch.randn(batch, *shape, device=device)
        with torch.inference_mode():
            row[f"b{batch}"] = time_call(lambda x=x: model(x), device, options.min_seconds)
    return row


def compare(arch: str, dataset: str, options: Options) -> list[dict[str, Any]]:
    shape = get_spec(dataset).shape
    torch.manual_seed(options.seed)
    rows = [_measure("dense", build_model(arch, dataset), shape, options)]
    if options.checkpoint is not None:
        _, _, label, model = _from_checkpoint(options.checkpoint)
        candidates = [(label, model)]
    else:
        candidates = []
        for granularity in options.granularity:
            torch.manual_seed(options.seed)
            model = attach_switcher(build_model(arch, dataset), granularity)
            init_switched_weights(model)
            candidates.append((f"switched-{granularity}", model))
    for label, model in candidates:
        if switched_layers(model):
            rows.append(_measure(f"{label} (cached gates)", model, shape, options))
        rows.append(_measure(f"exported {label}", export(model), shape, options))
    return rows


def format_table(arch: str, dataset: str, rows: list[dict[str, Any]], batches: list[int]) -> str:
    dense = rows[0]
    head = ["model", "params", "nonzero", "fc sparsity", "size KiB"]
    head += [f"b{b} ms" for b in batches] + ["nonzero x", "size x"]
    head += [f"b{b} x" for b in batches]
    lines = [f"{arch} on {dataset} (ratios: dense / model)", " | ".join(head)]
    for r in rows:
        cells = [r["model"], f"{r['params']:,}", f"{r['nonzero']:,}", f"{r['fc_sparsity']:.3f}"]
        cells.append(f"{r['bytes'] / 1024:,.1f}")
        cells += [f"{r[f'b{b}'] * 1e3:.3f}" for b in batches]
        cells += [f"{dense['nonzero'] / r['nonzero']:.2f}", f"{dense['bytes'] / r['bytes']:.2f}"]
        cells += [f"{dense[f'b{b}'] / r[f'b{b}']:.2f}" for b in batches]
        lines.append(" | ".join(cells))
    return "\n".join(lines)


def snn_timing(spec: str, options: Options) -> str:
    try:
        fan_in, fan_out = (int(v) for v in spec.lower().split("x"))
    except ValueError:
        raise UsageError(f"--snn-shapes: expected INxOUT like 4096x512, got {spec!r}") from None
    device = torch.device(options.device)
    snn = SwitcherNet(fan_in, fan_out).to(device)
    weight = (torch.randn(fan_out, fan_in, device=device) * 0.01).requires_grad_()
    with torch.no_grad():
        forward = time_call(lambda: snn(weight), device, options.min_seconds)
    backward = time_call(lambda: snn(weight).sum().backward(), device, options.min_seconds)
    params = sum(p.numel() for p in snn.parameters())
    return (
        f"SNN {fan_in}x{fan_out} ({len(snn.unet.sizes)} levels, {params:,} params, "
        f"{snn.macs() / 1e9:.2f} GMAC): forward {forward * 1e3:.1f} ms, "
        f"forward+backward {backward * 1e3:.1f} ms on {device}"
    )


def run(options: Options) -> int:
    if options.threads:
        torch.set_num_threads(options.threads)
    targets = [(a, options.dataset or get_arch(a).datasets[0]) for a in options.arch]
    if options.checkpoint is not None:
        arch, dataset, _, _ = _from_checkpoint(options.checkpoint)
        targets = [(arch, dataset)]
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads, device {options.device}"
    )
    for arch, dataset in targets:
        print()
        print(format_table(arch, dataset, compare(arch, dataset, options), options.batch_sizes))
    for spec in options.snn_shapes:
        print(snn_timing(spec, options))
    return 0
