"""`weightswitch bench train`: what a training epoch costs, measured in one run.

1. Dense vs switcher vs switcher-neuron (and, on request, the ablations switcher-noise,
   free-gates, free-gates-neuron), on the same arch, data, batch size and optimiser,
   through the real training loop (`train.loop.train_epoch` + the method callbacks). The
   switcher is timed in its TNN phase and in its SNN phase; the SNN share is the fraction of a
   switcher step that the gate computation (forward and backward through the SNNs) adds:
   1 - dense step / switcher step.
2. Our dense loop (in-memory `BatchIterator`, device-side loss/accuracy sums) vs a plain
   PyTorch loop: torchvision's MNIST/CIFAR10 dataset class (PIL image + ToTensor + Normalize)
   in a DataLoader with worker processes, same model, batch and optimiser, and the usual
   per-step `loss.item()` bookkeeping.

Each timing follows an untimed warm-up. Switcher steps cost hundreds of times a dense LeNet
step on a CPU, so they are timed over `--switcher-batches` steps and their seconds per epoch
are extrapolated (marked `*`).
"""

from __future__ import annotations

import itertools
import statistics
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from weightswitch.config import SWITCHER_METHODS
from weightswitch.options import option

METHODS = ("dense", *SWITCHER_METHODS)  # the switcher and its ablations (issue 12)


@dataclass(frozen=True)
class Options:
    """`bench train`'s options."""

    arch: list[str] = option(default_factory=lambda: ["lenet5", "lenet300"], nargs="+")
    dataset: str = option(default="mnist")
    root: str | None = option("prepared data; default: synthetic", default=None)
    batches: int = option("batches per epoch", default=200)
    switcher_batches: int = option("timed steps per switcher phase (0: a full epoch)", default=20)
    methods: list[str] = option(
        default_factory=lambda: ["dense", "switcher", "switcher-neuron"],
        nargs="+",
        choices=METHODS,
    )
    batch_size: int = option(default=64)
    lr: float = option(default=0.1)
    params: str = option(
        "the methods' settings (e.g. gradient clipping) come from its "
        "`methods` section; ignored if the file does not exist",
        default="params.yaml",
    )
    workers: int = option("plain loop's DataLoader workers", default=2)
    repeats: int = option("interleaved dense/plain epochs (median reported)", default=3)
    no_baseline: bool = option("skip the plain PyTorch loop", default=False)
    threads: int | None = option("torch threads (default: torch's)", default=None)
    device: str = option("cpu | cuda | auto", default="cpu")
    clock: str = option(
        "cpu: this process's CPU time (with --threads 1, the compute cost "
        "even on a machine loaded by other processes)",
        default="wall",
        choices=("wall", "cpu"),
    )
    seed: int = option(default=0)
    snn_compile: bool = option(
        "switcher runs with the compiled SNN (default, as `train`); "
        "compilation happens in the untimed warm-up",
        default=True,
        negatable=True,
    )


def _sync(device: torch.device) -> Callable[[], None]:
    return (lambda: torch.cuda.synchronize(device)) if device.type == "cuda" else (lambda: None)


def _data(options: Any, spec: Any, batches: int) -> tuple[torch.Tensor, torch.Tensor, str]:
    """`batches` batches of images: the prepared split under `options.root`, else synthetic
    (`options`: this target's or `bench snn`'s)."""
    n = batches * options.batch_size
    if options.root:
        from weightswitch.data import load_split

        images, labels = load_split(options.root, spec.name, "train", limit=n)
        return images, labels, f"{options.root}/{spec.name} train split, {len(labels)} images"
    g = torch.Generator().manual_seed(options.seed)
    images = torch.randint(0, 256, (n, *spec.shape), generator=g, dtype=torch.uint8)
    labels = torch.randint(0, spec.num_classes, (n,), generator=g)
    return images, labels, f"synthetic {spec.name}-format images, {n}"


def _state(
    arch: str,
    method: str,
    options: Any,
    device: torch.device,
    extra: dict[str, Any] | None = None,
) -> Any:
    """The model, method and optimisers exactly as `weightswitch train` sets them up
    (`extra`: more dotted config overrides)."""
    from pathlib import Path

    from weightswitch.config import build_config, load_params
    from weightswitch.train.runner import new_state

    overrides = {
        "optimizer.lr": options.lr,
        "batch_size": options.batch_size,
        "epochs": 2,
        "tracking": False,
        "device": device.type,
        "seed": options.seed,
        **(extra or {}),
    }
    # only the methods' settings (e.g. gradient clipping): the budget is the benchmark's own
    methods = load_params(options.params).get("methods") if Path(options.params).is_file() else None
    params = {"methods": methods or {}}
    return new_state(build_config(arch, options.dataset, method, params, overrides), device)


CLOCK: Callable[[], float] = time.perf_counter  # `--clock cpu`: time.process_time


def time_ours(state: Any, meth: Any, batches: Any, epoch: int, steps: int) -> float:
    """Seconds per step of our loop in the phase of `epoch` (after a short warm-up)."""
    from weightswitch.train.loop import train_epoch

    sync = _sync(state.device)
    meth.on_epoch_start(state, epoch)
    batches.set_epoch(epoch)
    train_epoch(state, itertools.islice(batches, 3), [])
    sync()
    start = CLOCK()
    train_epoch(state, itertools.islice(batches, steps), [])
    sync()
    return (CLOCK() - start) / steps


def _plain_dataset(images: torch.Tensor, labels: torch.Tensor, spec: Any) -> Any:
    """torchvision's own dataset class (its __getitem__: PIL + transforms) over our arrays."""
    from torchvision import transforms
    from torchvision.datasets import CIFAR10, MNIST, VisionDataset

    tf = transforms.Compose([transforms.ToTensor(), transforms.Normalize(spec.mean, spec.std)])
    if spec.channels == 1:
        ds = MNIST.__new__(MNIST)
        VisionDataset.__init__(ds, root=None, transform=tf)
        ds.data, ds.targets = images[:, 0].clone(), labels.clone()
    else:
        ds = CIFAR10.__new__(CIFAR10)
        VisionDataset.__init__(ds, root=None, transform=tf)
        ds.data, ds.targets = images.permute(0, 2, 3, 1).numpy(), labels.tolist()
    return ds


def plain_loop(
    arch: str, options: Options, images: Any, labels: Any, spec: Any, device: torch.device
) -> Callable[[], float]:
    """A textbook PyTorch loop; the returned callable times one full epoch (s/step)."""
    from torch.utils.data import DataLoader

    from weightswitch.models import build_model

    torch.manual_seed(options.seed)
    model = build_model(arch, options.dataset).to(device)
    opt = torch.optim.SGD(model.parameters(), lr=options.lr)
    loader = DataLoader(
        _plain_dataset(images, labels, spec),
        batch_size=options.batch_size,
        shuffle=True,
        num_workers=options.workers,
        persistent_workers=options.workers > 0,
        generator=torch.Generator().manual_seed(options.seed),
    )
    sync = _sync(device)

    def epoch(batches: Iterable[Any]) -> int:
        model.train()
        total_loss, correct, steps = 0.0, 0, 0
        for x, y in batches:
            x, y = x.to(device), y.to(device)
            opt.zero_grad()
            out = model(x)
            loss = F.cross_entropy(out, y)
            loss.backward()
            opt.step()
            total_loss += loss.item()
            correct += (out.argmax(1) == y).sum().item()
            steps += 1
        return steps

    def timed() -> float:
        sync()
        start = CLOCK()
        steps = epoch(loader)
        sync()
        return (CLOCK() - start) / steps

    epoch(itertools.islice(loader, 10))  # starts the (persistent) workers, warms up
    return timed


def run(options: Options) -> int:
    from weightswitch.data import BatchIterator, get_spec
    from weightswitch.train.runner import resolve_device

    global CLOCK
    CLOCK = time.process_time if options.clock == "cpu" else time.perf_counter
    if options.threads:
        torch.set_num_threads(options.threads)
    device = resolve_device(options.device)
    spec = get_spec(options.dataset)
    images, labels, source = _data(options, spec, options.batches)
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
    n = len(batches)
    sw_steps = options.switcher_batches or n
    print(
        f"bench train: {source}; batch {options.batch_size}, SGD lr {options.lr}, "
        f"{n} batches/epoch; {device}, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads, {options.clock} clock"
    )
    header = (
        f"{'arch':<9} {'loop':<34} {'ms/step':>9} {'s/epoch':>9} {'x dense':>8} {'SNN share':>9}"
    )
    print(header)
    print("-" * len(header))
    for arch in options.arch:
        dense_step, plain = _dense_vs_plain(arch, options, images, labels, spec, batches, device)
        if dense_step is not None:
            _row(arch, "ours: dense", dense_step, n, None, None)
        for method in (m for m in options.methods if m != "dense"):
            state, meth = _state(
                arch, method, options, device, {"switcher.snn_compile": options.snn_compile}
            )
            steps = {
                ph: time_ours(state, meth, batches, ep, sw_steps)
                for ep, ph in enumerate(("tnn", "snn"))
            }
            steps["mean"] = (steps["tnn"] + steps["snn"]) / 2
            for phase, step in steps.items():
                share = 1 - dense_step / step if dense_step else None
                _row(
                    arch,
                    f"ours: {method} ({phase})",
                    step,
                    n,
                    dense_step,
                    share,
                    extrapolated=sw_steps < n,
                )
        if plain is not None:
            _row(arch, f"plain PyTorch ({options.workers} workers)", plain, n, dense_step, None)
            if dense_step:
                print(
                    f"{'':<9} => our dense loop is {plain / dense_step:.2f}x faster than the "
                    f"plain loop on {arch} (median of {options.repeats} interleaved "
                    "epochs)"
                )
    if sw_steps < n and set(options.methods) - {"dense"}:
        print(f"* switcher seconds per epoch extrapolated from {sw_steps} timed steps per phase")
    return 0


def _dense_vs_plain(
    arch: str,
    options: Options,
    images: Any,
    labels: Any,
    spec: Any,
    batches: Any,
    device: torch.device,
) -> tuple[float | None, float | None]:
    """Median s/step of our dense epoch and the plain loop's, epochs interleaved so that
    load from other processes hits both alike."""
    dense = None
    if "dense" in options.methods:
        state, meth = _state(arch, "dense", options, device)
        dense = []
    plain = None if options.no_baseline else plain_loop(arch, options, images, labels, spec, device)
    ours_t: list[float] = []
    plain_t: list[float] = []
    for r in range(options.repeats):
        if dense is not None:
            ours_t.append(time_ours(state, meth, batches, r, len(batches)))
        if plain is not None:
            plain_t.append(plain())
    return (
        statistics.median(ours_t) if ours_t else None,
        statistics.median(plain_t) if plain_t else None,
    )


def _row(
    arch: str,
    label: str,
    step: float,
    n: int,
    dense: float | None,
    share: float | None,
    extrapolated: bool = False,
) -> None:
    ratio = f"{step / dense:.2f}" if dense else ""
    share_text = f"{share:.1%}" if share is not None else ""
    epoch = f"{step * n:.2f}" + ("*" if extrapolated else " ")
    print(
        f"{arch:<9} {label:<34} {step * 1000:>9.2f} {epoch:>9} {ratio:>8} {share_text:>9}",
        flush=True,
    )
