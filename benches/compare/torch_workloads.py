#!/usr/bin/env python3
"""PyTorch side of the tapegrad-vs-PyTorch comparison (see README.md).

    python torch_workloads.py WORKLOAD [--data DIR] [--repeat K]
    python torch_workloads.py --list

Prints one JSON line on stdout. The code is meant to be the fastest *honest* eager PyTorch:
data preloaded as tensors, no DataLoader, 2 intra-op threads, fused SGD, grads set to None,
autograd left on for every training step (no `torch.no_grad` anywhere in training).
"""
import argparse
import gzip
import json
import os
import resource
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

# Taken before anything else allocates, so it is the "just imported torch" floor.
BASELINE_RSS_BYTES = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB

import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

THREADS = 2
MLP_SIZES = [784, 512, 256, 10]  # the MNIST MLP of the mlp*_epoch_* and bn_cost_* workloads
SEED = 0
WARMUP_STEPS = 5  # enough to fault in allocations and pick oneDNN/MKL kernels
MNIST_MEAN, MNIST_STD = 0.1307, 0.3081
REPO_ROOT = Path(__file__).resolve().parents[2]


# ---------------------------------------------------------------- data

def mnist_dir(explicit):
    """--data DIR, else $MNIST_DIR (empty means unset), else datasets/mnist in the repo."""
    if explicit:
        return Path(explicit)
    if os.environ.get("MNIST_DIR"):
        return Path(os.environ["MNIST_DIR"])
    return REPO_ROOT / "datasets" / "mnist"


def read_idx(path):
    """Gzip IDX file -> numpy array (magic: 0x00 0x00 dtype ndim, then big-endian u32 dims)."""
    with gzip.open(path, "rb") as f:
        data = f.read()
    if data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise ValueError(f"{path}: not an unsigned-byte IDX file")
    ndim = data[3]
    dims = np.frombuffer(data, dtype=">u4", count=ndim, offset=4)
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(tuple(int(d) for d in dims))


def load_mnist_train(directory):
    """(x float32 [60000, 784] normalised, y int64 [60000]); only the train split is loaded."""
    return load_mnist_split(directory, "train")


def load_mnist_split(directory, split):
    """One split ("train" or "t10k") as (x float32 [n, 784] normalised, y int64 [n])."""
    if not (directory / f"{split}-images-idx3-ubyte.gz").exists():
        sys.exit(f"no MNIST {split} files in {directory} (use --data DIR or set MNIST_DIR)")
    raw = read_idx(directory / f"{split}-images-idx3-ubyte.gz")
    # In-place float32 arithmetic: no float64 temporary inflating the RSS workload's peak.
    x = raw.reshape(raw.shape[0], -1).astype(np.float32)
    x /= 255.0
    x -= MNIST_MEAN
    x /= MNIST_STD
    y = read_idx(directory / f"{split}-labels-idx1-ubyte.gz").astype(np.int64)
    return torch.from_numpy(x), torch.from_numpy(y)


def epoch_batches(n, batch, drop_last, gen):
    """Index tensors for one shuffled epoch (a fresh seeded permutation each call)."""
    perm = torch.randperm(n, generator=gen)
    stop = n - n % batch if drop_last else n
    for i in range(0, stop, batch):
        yield perm[i:i + batch]


# ---------------------------------------------------------------- models and timing

def mlp(sizes, activation, batchnorm, dropout=0.0):
    """Linear[-BatchNorm1d]-activation[-Dropout] per hidden layer, then a final Linear: the
    layer order (and so the state-dict keys) of tapegrad's `Mlp`."""
    layers = []
    for fan_in, fan_out in zip(sizes[:-2], sizes[1:-1]):
        layers.append(nn.Linear(fan_in, fan_out))
        if batchnorm:
            layers.append(nn.BatchNorm1d(fan_out))
        layers.append(activation())
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
    layers.append(nn.Linear(sizes[-2], sizes[-1]))
    return nn.Sequential(*layers)


def cnn(batch_norm=False):
    """PyTorch's MNIST example net (examples/mnist/main.py), as one nn.Sequential that takes the
    flat images [N, 784] and views them as [N, 1, 28, 28] first: the layer order, and so the
    state-dict keys, of `mnist_cnn`'s net (examples/mnist_cnn/model.rs). With `batch_norm`, a
    BatchNorm2d after each convolution and a BatchNorm1d after the first Linear, each before
    its ReLU."""
    def bn(module, c):
        return [module(c)] if batch_norm else []
    return nn.Sequential(
        nn.Unflatten(1, (1, 28, 28)),
        nn.Conv2d(1, 32, 3), *bn(nn.BatchNorm2d, 32), nn.ReLU(),
        nn.Conv2d(32, 64, 3), *bn(nn.BatchNorm2d, 64), nn.ReLU(),
        nn.MaxPool2d(2), nn.Dropout(0.25), nn.Flatten(),
        nn.Linear(9216, 128), *bn(nn.BatchNorm1d, 128), nn.ReLU(), nn.Dropout(0.5),
        nn.Linear(128, 10),
    )


def sgd(params, lr, momentum):
    # fused=True is the fastest CPU SGD (~1.5x the default for-loop step); older torch lacks it.
    try:
        return torch.optim.SGD(params, lr=lr, momentum=momentum, fused=True), "fused"
    except (RuntimeError, TypeError, ValueError):
        return torch.optim.SGD(params, lr=lr, momentum=momentum), "default"


def timed(fn, repeat):
    """Wall seconds of each of `repeat` calls of fn()."""
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    return samples


# ---------------------------------------------------------------- workloads

def train_step(model, opt, x, y, idx):
    """One SGD step on the rows `idx` of `x` and `y`; returns the loss (a tensor)."""
    opt.zero_grad(set_to_none=True)
    loss = F.cross_entropy(model(x.index_select(0, idx)), y.index_select(0, idx))
    loss.backward()
    opt.step()
    return loss


def train_workload(args, build, batchnorm, batch, lr, momentum, epoch_steps=None):
    """Times one shuffled training epoch per repeat of the model `build()` returns, after a
    few warm-up steps."""
    x, y = load_mnist_train(mnist_dir(args.data))
    n = x.shape[0]
    drop_last = batchnorm  # a tiny last batch would give BatchNorm noisy statistics
    if epoch_steps is not None:  # the workload's name promises this many steps
        assert n % batch == 0 and n // batch == epoch_steps, (n, batch, epoch_steps)
    torch.manual_seed(SEED)
    model = build().train()
    opt, opt_impl = sgd(model.parameters(), lr, momentum)
    last_loss = [None]

    def step(idx):
        last_loss[0] = train_step(model, opt, x, y, idx)

    warm = torch.Generator().manual_seed(SEED + 1)
    for _, idx in zip(range(WARMUP_STEPS), epoch_batches(n, batch, drop_last, warm)):
        step(idx)

    gen = torch.Generator().manual_seed(SEED)

    def epoch():
        for idx in epoch_batches(n, batch, drop_last, gen):
            step(idx)

    samples = timed(epoch, args.repeat)
    return {"seconds": statistics.median(samples), "samples": samples,
            "last_loss": last_loss[0].item(), "optimizer": f"SGD({opt_impl})",
            "batch": batch, "drop_last": drop_last}


def bn_cost_workload(args, batch, build=None, lr=None):
    """The net without and with BatchNorm (`build(bn)`, the MLP by default) trained in turns
    on the same batches (the last partial one dropped), which goes first alternating from
    step to step, so that a slow spell of the host falls on both alike; per repeat one epoch
    (a fresh shuffle) of each. `bn_cost`: the time with BatchNorm over the time without
    (median over repeats)."""
    x, y = load_mnist_train(mnist_dir(args.data))
    n = x.shape[0]
    torch.manual_seed(SEED)
    build = build or (lambda bn: mlp(MLP_SIZES, nn.ReLU, bn))
    models = [build(bn).train() for bn in (False, True)]
    opts = [sgd(m.parameters(), lr or mlp_lr(batch), 0.9)[0] for m in models]

    def step(i, idx):
        t0 = time.perf_counter()
        train_step(models[i], opts[i], x, y, idx)
        return time.perf_counter() - t0

    warm = torch.Generator().manual_seed(SEED + 1)
    for _, idx in zip(range(WARMUP_STEPS), epoch_batches(n, batch, True, warm)):
        step(0, idx)
        step(1, idx)
    without, with_bn, steps = [], [], 0
    for r in range(args.repeat):
        gen = torch.Generator().manual_seed(SEED + 2 + r)
        seconds = [0.0, 0.0]
        for steps, idx in enumerate(epoch_batches(n, batch, True, gen), start=1):
            for turn in range(2):
                i = (steps - 1 + turn) % 2
                seconds[i] += step(i, idx)
        without.append(seconds[0])
        with_bn.append(seconds[1])
    ratios = [w / o for w, o in zip(with_bn, without)]
    return {"bn_cost": statistics.median(ratios), "samples": ratios, "seconds_without": without,
            "seconds_with": with_bn, "batch": batch, "drop_last": True, "steps": steps}


def bn_workload(args, n, c):
    """BatchNorm1d train-mode forward + backward of y.backward(dy) w.r.t. x, gamma and beta."""
    torch.manual_seed(SEED)
    bn = nn.BatchNorm1d(c).train()
    x = torch.randn(n, c, requires_grad=True)
    dy = torch.randn(n, c)

    def iteration():
        x.grad = None  # fresh grads each time: measure the op, not gradient accumulation
        bn.zero_grad(set_to_none=True)
        bn(x).backward(dy)

    return median_us_per_iteration(args, iteration)


# The two convolutions of PyTorch's MNIST example net: (name suffix, c_in, c_out, input side),
# 3x3, stride 1, no padding, batch 64.
CONV_SHAPES = (("c1_32", 1, 32, 28), ("c32_64", 32, 64, 26))
CONV_BATCH = 64


def conv_workload(args, c_in, c_out, side):
    """Conv2d(c_in, c_out, 3) forward + backward of y.backward(dy): the weight's and bias's
    gradients, and the input's for the second convolution only (the first one's input is the
    data batch, which needs none, as in the net)."""
    torch.manual_seed(SEED)
    conv = nn.Conv2d(c_in, c_out, 3)
    x = torch.randn(CONV_BATCH, c_in, side, side, requires_grad=c_in > 1)
    dy = torch.randn(CONV_BATCH, c_out, side - 2, side - 2)

    def iteration():
        x.grad = None
        conv.zero_grad(set_to_none=True)
        conv(x).backward(dy)

    return median_us_per_iteration(args, iteration)


def median_us_per_iteration(args, iteration, budget_s=1.0, warmup_s=0.2):
    """Times iteration() one call at a time: a warm-up block, then --repeat blocks of at least
    budget_s and 30 iterations; the median over the blocks of each block's median, in us."""
    def block(seconds):
        # Per-iteration times, median taken: robust to the other jobs on this shared machine.
        times, end = [], time.perf_counter() + seconds
        while len(times) < 30 or time.perf_counter() < end:
            t0 = time.perf_counter()
            iteration()
            times.append(time.perf_counter() - t0)
        return times

    block(warmup_s)
    blocks = [block(budget_s) for _ in range(args.repeat)]
    samples = [statistics.median(b) * 1e6 for b in blocks]
    return {"us_per_iter": statistics.median(samples), "samples": samples,
            "iterations": sum(len(b) for b in blocks)}


def peak_rss_workload(args):
    """Peak RSS of loading MNIST and training one epoch at batch 128 (process-wide high-water)."""
    result = train_workload(args, lambda: mlp(MLP_SIZES, nn.ReLU, False), False, 128, 0.1, 0.9)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return {"peak_rss_bytes": peak, "baseline_rss_bytes": BASELINE_RSS_BYTES,
            "epoch_seconds": result["seconds"]}


def mlp_lr(batch):
    """0.1 from batch 128 up, scaled linearly below: at batch 32, lr 0.1 with momentum 0.9
    diverges (in both frameworks: NaN in one, a collapsed net at loss ln 10 in the other)."""
    return 0.1 * min(1.0, batch / 128)


def workloads():
    """name -> callable(args) returning the measured fields."""
    table = {}
    for bn in (False, True):
        for b in (32, 128, 512):
            table[f"mlp{'_bn' if bn else ''}_epoch_b{b}"] = (
                lambda a, bn=bn, b=b: train_workload(a, lambda: mlp(MLP_SIZES, nn.ReLU, bn), bn, b,
                                                     mlp_lr(b), 0.9))
    for bn in (False, True):
        # Ioffe & Szegedy's MNIST net; plain SGD lr 0.5; 1000 steps x 60 = exactly one epoch.
        sizes = [784, 100, 100, 100, 10]
        table[f"sigmoid3x100{'_bn' if bn else ''}_b60_1000steps"] = (
            lambda a, bn=bn: train_workload(a, lambda: mlp(sizes, nn.Sigmoid, bn), bn,
                                            60, 0.5, 0.0, epoch_steps=1000))
    # PyTorch's MNIST example: its net and its settings (SGD lr 0.05 momentum 0.9, batch 64).
    table["cnn_epoch"] = lambda a: train_workload(a, cnn, False, 64, 0.05, 0.9)
    table["cnn_bn_epoch"] = lambda a: train_workload(a, lambda: cnn(True), True, 64, 0.05, 0.9)
    for n, c in ((60, 100), (128, 512), (256, 1024), (1024, 1024), (4096, 256)):
        table[f"bn_fwd_bwd_{n}x{c}"] = lambda a, n=n, c=c: bn_workload(a, n, c)
    for suffix, c_in, c_out, side in CONV_SHAPES:
        table[f"conv2d_fwd_bwd_{suffix}"] = (
            lambda a, c_in=c_in, c_out=c_out, side=side: conv_workload(a, c_in, c_out, side))
    table["bn_cost_b128"] = lambda a: bn_cost_workload(a, 128)
    table["cnn_bn_cost_b64"] = lambda a: bn_cost_workload(a, 64, cnn, 0.05)
    table["peak_rss_mnist_train"] = peak_rss_workload
    return table


def main():
    table = workloads()
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("workload", nargs="?", help="workload name (see --list)")
    p.add_argument("--data", help="MNIST directory (default: $MNIST_DIR, then datasets/mnist)")
    p.add_argument("--repeat", type=int, default=1, help="timed repetitions in this process (median reported)")
    p.add_argument("--list", action="store_true", help="list workload names and exit")
    args = p.parse_args()
    if args.list:
        print("\n".join(table))
        return
    if args.workload not in table:
        p.error(f"unknown workload {args.workload!r}; see --list")
    if args.repeat < 1:
        p.error("--repeat must be >= 1")
    torch.set_num_threads(THREADS)
    result = {"framework": "pytorch", "workload": args.workload}
    result.update(table[args.workload](args))
    result.update({"torch_version": torch.__version__, "threads": torch.get_num_threads()})
    print(json.dumps(result))


if __name__ == "__main__":
    sys.exit(main())
