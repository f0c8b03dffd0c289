"""Load weights exported by `mnist_mlp --export` into the equivalent torch.nn.Sequential.

    python benches/compare/check_export.py MODEL.safetensors [--hidden 512,256] [--bn]
        [--activation relu] [--dropout P] [--data DIR] [--expect-accuracy A]
    python benches/compare/check_export.py MODEL.safetensors --cnn [--bn] [--data DIR]
        [--expect-accuracy A]

`--cnn` takes PyTorch's MNIST example net (`torch_workloads.cnn`: the flat images viewed as
[N, 1, 28, 28], two 3x3 convolutions, max-pooling, dropout, two Linear layers), the net of
`mnist_cnn --export`, instead of the MLP; with `--bn`, that of `mnist_cnn --bn --export`
(BatchNorm2d after each convolution, BatchNorm1d after the first Linear).

`load_state_dict(strict=True)` must accept every key and shape (so the names are PyTorch's),
and the model in eval mode must classify the MNIST test set as tapegrad did: pass tapegrad's
`test_accuracy` (from `--json`) as --expect-accuracy to compare. Prints one JSON line.
Needs torch and safetensors (`pip install torch safetensors`).
"""
import argparse
import json
import os
import sys

import torch
from safetensors.torch import load_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_workloads import cnn, load_mnist_split, mlp, mnist_dir  # noqa: E402  (shared builders)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("weights")
    ap.add_argument("--hidden", default="512,256")
    ap.add_argument("--bn", action="store_true")
    ap.add_argument("--cnn", action="store_true", help="PyTorch's MNIST example net, not the MLP")
    ap.add_argument("--activation", default="relu", choices=["relu", "sigmoid", "tanh"])
    ap.add_argument("--dropout", type=float, default=0.0)
    ap.add_argument("--data", default=None)
    ap.add_argument("--expect-accuracy", type=float, default=None)
    args = ap.parse_args()

    sizes = [784] + [int(w) for w in args.hidden.split(",")] + [10]
    activation = {"relu": torch.nn.ReLU, "sigmoid": torch.nn.Sigmoid, "tanh": torch.nn.Tanh}
    if args.cnn:
        model = cnn(args.bn)
    else:
        model = mlp(sizes, activation[args.activation], args.bn, dropout=args.dropout)
    state = load_file(args.weights)
    model.load_state_dict(state, strict=True)
    model.eval()

    images, labels = load_mnist_split(mnist_dir(args.data), "t10k")
    with torch.no_grad():
        logits = model(images)
        loss = torch.nn.functional.cross_entropy(logits, labels).item()
        accuracy = (logits.argmax(1) == labels).float().mean().item()
    result = {"keys": len(state), "test_accuracy": accuracy, "test_loss": loss}
    print(json.dumps(result))
    if args.expect_accuracy is not None and abs(accuracy - args.expect_accuracy) > 2e-4:
        sys.exit(f"accuracy {accuracy} differs from tapegrad's {args.expect_accuracy}")


if __name__ == "__main__":
    main()
