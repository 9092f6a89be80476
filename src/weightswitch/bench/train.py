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

import argparse
import itertools
import statistics
import time
from collections.abc import Callable, Iterable
from typing import Any

import torch
import torch.nn.functional as F

from weightswitch.config import SWITCHER_METHODS

METHODS = ("dense", *SWITCHER_METHODS)  # the switcher and its ablations (issue 12)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--arch", nargs="+", default=["lenet5", "lenet300"])
    parser.add_argument("--dataset", default="mnist")
    parser.add_argument("--root", default=None, help="prepared data; default: synthetic")
    parser.add_argument("--batches", type=int, default=200, help="batches per epoch")
    parser.add_argument(
        "--switcher-batches",
        type=int,
        default=20,
        help="timed steps per switcher phase (0: a full epoch)",
    )
    parser.add_argument(
        "--methods", nargs="+", default=["dense", "switcher", "switcher-neuron"], choices=METHODS
    )
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=0.1)
    parser.add_argument(
        "--params",
        default="params.yaml",
        help="the methods' settings (e.g. gradient clipping) come from its "
        "`methods` section; ignored if the file does not exist",
    )
    parser.add_argument("--workers", type=int, default=2, help="plain loop's DataLoader workers")
    parser.add_argument(
        "--repeats", type=int, default=3, help="interleaved dense/plain epochs (median reported)"
    )
    parser.add_argument("--no-baseline", action="store_true", help="skip the plain PyTorch loop")
    parser.add_argument(
        "--threads", type=int, default=None, help="torch threads (default: torch's)"
    )
    parser.add_argument("--device", default="cpu", help="cpu | cuda | auto")
    parser.add_argument(
        "--clock",
        choices=("wall", "cpu"),
        default="wall",
        help="cpu: this process's CPU time (with --threads 1, the compute cost "
        "even on a machine loaded by other processes)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--snn-compile",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="switcher runs with the compiled SNN (default, as `train`); "
        "compilation happens in the untimed warm-up",
    )


def _sync(device: torch.device) -> Callable[[], None]:
    return (lambda: torch.cuda.synchronize(device)) if device.type == "cuda" else (lambda: None)


def _data(args: argparse.Namespace, spec: Any) -> tuple[torch.Tensor, torch.Tensor, str]:
    n = args.batches * args.batch_size
    if args.root:
        from weightswitch.data import load_split

        images, labels = load_split(args.root, spec.name, "train", limit=n)
        return images, labels, f"{args.root}/{spec.name} train split, {len(labels)} images"
    g = torch.Generator().manual_seed(args.seed)
    images = torch.randint(0, 256, (n, *spec.shape), generator=g, dtype=torch.uint8)
    labels = torch.randint(0, spec.num_classes, (n,), generator=g)
    return images, labels, f"synthetic {spec.name}-format images, {n}"


def _state(
    arch: str,
    method: str,
    args: argparse.Namespace,
    device: torch.device,
    extra: dict[str, Any] | None = None,
) -> Any:
    """The model, method and optimisers exactly as `weightswitch train` sets them up
    (`extra`: more dotted config overrides)."""
    from pathlib import Path

    from weightswitch.config import build_config, load_params
    from weightswitch.train.runner import new_state

    overrides = {
        "optimizer.lr": args.lr,
        "batch_size": args.batch_size,
        "epochs": 2,
        "tracking": False,
        "device": device.type,
        "seed": args.seed,
        **(extra or {}),
    }
    # only the methods' settings (e.g. gradient clipping): the budget is the benchmark's own
    methods = load_params(args.params).get("methods") if Path(args.params).is_file() else None
    params = {"methods": methods or {}}
    return new_state(build_config(arch, args.dataset, method, params, overrides), device)


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
    arch: str, args: argparse.Namespace, images: Any, labels: Any, spec: Any, device: torch.device
) -> Callable[[], float]:
    """A textbook PyTorch loop; the returned callable times one full epoch (s/step)."""
    from torch.utils.data import DataLoader

    from weightswitch.models import build_model

    torch.manual_seed(args.seed)
    model = build_model(arch, args.dataset).to(device)
    opt = torch.optim.SGD(model.parameters(), lr=args.lr)
    loader = DataLoader(
        _plain_dataset(images, labels, spec),
        batch_size=args.batch_size,
        shuffle=True,
        num_workers=args.workers,
        persistent_workers=args.workers > 0,
        generator=torch.Generator().manual_seed(args.seed),
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


def run(args: argparse.Namespace) -> int:
    from weightswitch.data import BatchIterator, get_spec
    from weightswitch.train.runner import resolve_device

    global CLOCK
    CLOCK = time.process_time if args.clock == "cpu" else time.perf_counter
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    spec = get_spec(args.dataset)
    images, labels, source = _data(args, spec)
    batches = BatchIterator(
        images,
        labels,
        spec,
        args.batch_size,
        shuffle=True,
        augment=False,
        device=device,
        seed=args.seed,
    )
    n = len(batches)
    sw_steps = args.switcher_batches or n
    print(
        f"bench train: {source}; batch {args.batch_size}, SGD lr {args.lr}, {n} batches/epoch;"
        f" {device}, torch {torch.__version__}, {torch.get_num_threads()} threads, "
        f"{args.clock} clock"
    )
    header = (
        f"{'arch':<9} {'loop':<34} {'ms/step':>9} {'s/epoch':>9} {'x dense':>8} {'SNN share':>9}"
    )
    print(header)
    print("-" * len(header))
    for arch in args.arch:
        dense_step, plain = _dense_vs_plain(arch, args, images, labels, spec, batches, device)
        if dense_step is not None:
            _row(arch, "ours: dense", dense_step, n, None, None)
        for method in (m for m in args.methods if m != "dense"):
            state, meth = _state(
                arch, method, args, device, {"switcher.snn_compile": args.snn_compile}
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
            _row(arch, f"plain PyTorch ({args.workers} workers)", plain, n, dense_step, None)
            if dense_step:
                print(
                    f"{'':<9} => our dense loop is {plain / dense_step:.2f}x faster than the "
                    f"plain loop on {arch} (median of {args.repeats} interleaved "
                    "epochs)"
                )
    if sw_steps < n and set(args.methods) - {"dense"}:
        print(f"* switcher seconds per epoch extrapolated from {sw_steps} timed steps per phase")
    return 0


def _dense_vs_plain(
    arch: str,
    args: argparse.Namespace,
    images: Any,
    labels: Any,
    spec: Any,
    batches: Any,
    device: torch.device,
) -> tuple[float | None, float | None]:
    """Median s/step of our dense epoch and the plain loop's, epochs interleaved so that
    load from other processes hits both alike."""
    dense = None
    if "dense" in args.methods:
        state, meth = _state(arch, "dense", args, device)
        dense = []
    plain = None if args.no_baseline else plain_loop(arch, args, images, labels, spec, device)
    ours_t: list[float] = []
    plain_t: list[float] = []
    for r in range(args.repeats):
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
