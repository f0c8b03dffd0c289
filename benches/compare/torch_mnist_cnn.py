#!/usr/bin/env python3
"""PyTorch's side of `mnist_cnn`'s README rows: its MNIST example net trained as `mnist_cnn`
trains it, printing one JSON line per epoch (test accuracy and loss, mean training loss, the
epoch's training seconds) and the peak RSS at the end.

    /opt/torchvenv/bin/python benches/compare/torch_mnist_cnn.py [--bn] [--epochs 5]
        [--seed 0] [--data DIR]

The net is `torch_workloads.cnn` (with `--bn`, a BatchNorm2d after each convolution and a
BatchNorm1d after the first Linear, each before its ReLU), the settings PyTorch's example's:
SGD lr 0.05 momentum 0.9, batch 64 shuffled each epoch, inputs standardised; 2 threads, fused
SGD, as the side-by-side workloads. With `--bn` the last partial batch is dropped, as
`mnist_cnn --bn` does (a batch of 32 gives BatchNorm noisier statistics). Evaluation runs in
eval mode (running statistics, no dropout) in batches of 1000 under `torch.no_grad`.
"""
import argparse
import json
import os
import resource
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_workloads import (  # noqa: E402  (shared builders)
    THREADS, cnn, epoch_batches, load_mnist_split, mnist_dir, sgd, train_step,
)


def evaluate(model, x, y):
    """(accuracy, mean cross-entropy) of `model` in eval mode on `x`, `y`."""
    model.eval()
    correct, loss = 0, 0.0
    with torch.no_grad():
        for i in range(0, x.shape[0], 1000):
            logits = model(x[i:i + 1000])
            loss += F.cross_entropy(logits, y[i:i + 1000], reduction="sum").item()
            correct += (logits.argmax(1) == y[i:i + 1000]).sum().item()
    model.train()
    return correct / x.shape[0], loss / x.shape[0]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bn", action="store_true")
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--data", default=None)
    args = ap.parse_args()
    torch.set_num_threads(THREADS)
    directory = mnist_dir(args.data)
    x, y = load_mnist_split(directory, "train")
    x_test, y_test = load_mnist_split(directory, "t10k")
    torch.manual_seed(args.seed)
    model = cnn(args.bn).train()
    opt, _ = sgd(model.parameters(), 0.05, 0.9)
    gen = torch.Generator().manual_seed(args.seed)
    for epoch in range(1, args.epochs + 1):
        losses = []
        t0 = time.perf_counter()
        for idx in epoch_batches(x.shape[0], 64, args.bn, gen):
            losses.append(train_step(model, opt, x, y, idx).item())
        seconds = time.perf_counter() - t0
        accuracy, loss = evaluate(model, x_test, y_test)
        print(json.dumps({"epoch": epoch, "bn": args.bn, "seed": args.seed,
                          "test_accuracy": accuracy, "test_loss": loss,
                          "train_loss": sum(losses) / len(losses), "seconds": seconds}),
              flush=True)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"peak_rss_bytes": peak}))


if __name__ == "__main__":
    main()
