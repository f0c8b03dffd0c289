#!/usr/bin/env python3
"""Regenerates the PyTorch float64 reference values in this folder (every `*.json` here).

The Rust tests of the workspace compare tapegrad, which computes in float32, against these
values (`tapegrad_testutil::load` / `GoldenCase::load`; an outside crate uses `load_from` /
`GoldenCase::load_from` with a path). Everything is computed by PyTorch on the CPU in float64,
from inputs drawn by PyTorch's own generator after `torch.manual_seed` (every seed is in the
case tables below). With PyTorch 2.15.0 on the CPU (the release in the files' `torch` key) a run
reproduces the committed files byte for byte. Another release or CPU may round the last bits
differently (the vectorised random and reduction kernels), which `--check` tolerates.

Run it from any folder (CPU PyTorch is enough), e.g. with the project's venv:

    /opt/torchvenv/bin/python crates/testutil/golden/generate.py --check

or, from this folder:

    python generate.py                  # rewrite every file in this folder
    python generate.py optim.json       # rewrite only the files named
    python generate.py --check          # write into a temporary folder and compare with the
                                        # committed files; exit status 1 on any mismatch
    python generate.py --out DIR        # write into DIR instead of this folder

`--check` compares the JSON trees: the same keys in the same order, the same strings,
integers and booleans, every float within `--rtol` (default 1e-12) relative and `--atol`
(default 0) absolute of the committed one; it also says whether each file is byte-identical.
Only the `torch` and `generated_by` strings may differ (they name the PyTorch release), which
it reports without failing: the numbers decide. A few references are rounding residue around
0 (`db1` of the BatchNorm MLP, about 1e-17, whose exact value depends on the summation order):
if those alone differ under another release, `--atol 1e-15` is the honest comparison.

Layout (what the Rust side reads, `crates/testutil/src/lib.rs`): a tensor is
`{"shape": [...], "data": [row-major flat list]}` (a scalar would have shape `[]`), floats are
written with Python's shortest round-trip repr, so they parse back to the same float64; the
JSON is compact (`separators=(",", ":")`). Linear weights are PyTorch's `[out, in]`.

Adding a case:

0. Run `python generate.py --check` first: it must pass, so your PyTorch reproduces the
   committed values and the diff of step 2 shows your case only.
1. Add an entry to the case table of its file below (`BATCHNORM_CASES`, `BATCHNORM2D_CASES`, `CONV_CASES`,
   `POOL_CASES`, `LAYERNORM_CASES`, `MLP_CASES`, `OPTIM_CASES`, `SCHEDULE_CASES`) with a comment saying what it checks and why.
   BatchNorm, MLP, convolution and pooling cases carry their own seed, and the optimizer cases all run on `p0` and
   gradients drawn before any case, so a new case changes no other. The LayerNorm cases share
   one stream (seed 43): append new ones at the end so the earlier ones keep their inputs.
2. Run `python generate.py FILE`; `git diff` must show the new case and nothing else changed.
   Commit the JSON together with the script.
3. Update the Rust test that reads the file if it counts or names the cases (for example
   `crates/layers/tests/golden_batchnorm.rs` asserts there are 10 BatchNorm cases).

A new file: write a `make_<name>()` returning the JSON tree (start it with `header()`), add it
to `FILES`, describe it in `README.md`, and read it from Rust with `tapegrad_testutil::load`.
"""

import argparse
import json
import math
import sys
import tempfile
from pathlib import Path

import torch
import torch.nn.functional as F

F64 = torch.float64
HERE = Path(__file__).resolve().parent
ENCODING = "tensor = {shape: [...], data: row-major flat list}"


def tensor(t):
    """A tensor as the Rust side reads it: `{shape, data}`, data row-major and flat."""
    t = t.detach()
    return {"shape": list(t.shape), "data": t.reshape(-1).tolist()}


def header():
    """The keys every file starts with: the PyTorch release, the dtype and the encoding."""
    return {"torch": torch.__version__, "dtype": "float64", "encoding": ENCODING}


def generated_by():
    """The `generated_by` string every file carries (the Rust tests assert it is present)."""
    return f"PyTorch {torch.__version__} in float64"


def randn(*shape):
    """Standard normal float64 values from PyTorch's generator."""
    return torch.randn(*shape, dtype=F64)


def rand(*shape):
    """Uniform [0, 1) float64 values from PyTorch's generator."""
    return torch.rand(*shape, dtype=F64)


# --------------------------------------------------------------------------------------------
# batchnorm1d.json
# --------------------------------------------------------------------------------------------

BN_EPS = 1e-5
BN_MOMENTUM = 0.1

# Each case: (name, description, seed, N, C, inputs). `inputs` says how x and the two later
# training batches are drawn: ("normal", scale, shift) is scale*randn + shift, and
# "near_constant" is the construction of that case. gamma is rand + 0.5 (in [0.5, 1.5)) and
# beta 0.5*randn, except in "identity_affine", which keeps PyTorch's initial 1 and 0. The
# draws come in the order x, x_batch2, x_batch3, gamma, beta, dy, each case after
# torch.manual_seed(seed).
BATCHNORM_CASES = [
    # The plain case: every quantity at ordinary magnitudes.
    ("basic_4x3", "N=4, C=3, standard normal input, random gamma in [0.5,1.5), beta ~ N(0,0.25)",
     1, 4, 3, ("normal", 1, 0)),
    # N=2 is the smallest batch training accepts; the unbiased variance used for running_var is
    # twice the biased one, and the exact input gradient is about 0 (an absolute tolerance).
    ("n2_c3", "N=2 (smallest legal training batch): unbiased var = 2 * biased var",
     2, 2, 3, ("normal", 1, 0)),
    # An odd batch and fewer channels than rows: catches transposed reductions.
    ("n3_c2", "N=3, C=2", 3, 3, 2, ("normal", 1, 0)),
    # One channel: catches code that assumes C > 1 (a broadcast or a stride).
    ("n5_c1", "C=1 (single feature)", 4, 5, 1, ("normal", 1, 0)),
    # PyTorch's default affine parameters: the output is x_hat itself.
    ("identity_affine_8x4", "gamma=1, beta=0 (PyTorch default init of the affine params)",
     5, 8, 4, ("identity_affine", 1, 0)),
    # Mean 1e3, std 1: E[x^2] - E[x]^2 cancels catastrophically in float32; two passes (or
    # Welford) are needed. The Rust test loosens the tolerance here (float32 inputs near 1e3).
    ("large_mean_1e3_8x4",
     "input mean 1e3, std 1 per column: catches E[x^2]-E[x]^2 cancellation (in float32 the "
     "naive formula loses ~all digits of the variance)",
     6, 8, 4, ("normal", 1, 1000)),
    # A large spread: the variance is about 1e6, eps is negligible.
    ("large_scale_6x3", "input std 1e3 around mean -50", 7, 6, 3, ("normal", 1000, -50)),
    # A column whose variance is comparable to eps, and one that is exactly constant: x_hat is
    # 0, y is beta, and only eps keeps 1/sqrt(var + eps) (and dx) finite.
    ("near_constant_6x3",
     "column 0: 0.5 + 1e-3*noise (var comparable to eps=1e-5); column 1: exactly constant 2.0 "
     "(var 0: eps alone keeps it finite); column 2: normal",
     8, 6, 3, ("near_constant",)),
    # Typical layer sizes: exercises the vectorised and blocked loops.
    ("typical_16x8", "N=16, C=8", 9, 16, 8, ("normal", 1, 0)),
    # A larger batch with a shifted, scaled input.
    ("n32_c6", "N=32, C=6, gamma/beta random, input mean 3 std 2", 10, 32, 6, ("normal", 2, 3)),
]

BATCHNORM_NOTES = [
    "training forward normalizes with the BIASED batch variance: x_hat = (x-mean)/sqrt(var_b+eps)",
    "running_mean <- (1-momentum)*running_mean + momentum*batch_mean",
    "running_var  <- (1-momentum)*running_var + momentum*batch_var_UNBIASED (N/(N-1)*var_b)",
    "eval forward: (x-running_mean)/sqrt(running_var+eps)*gamma+beta",
    "passes: x (differentiated, with upstream grad dy), then x_batch2, then x_batch3, all in "
    "training mode; running_after_each_pass[i] is the state after pass i+1; "
    "y_eval_on_x_after_3_passes is the eval-mode output on x after the 3 passes",
    "dx = gamma/sqrt(var_b+eps) * (dy - mean(dy) - x_hat*mean(dy*x_hat)) (means over the batch)",
    "dgamma = sum_n dy*x_hat; dbeta = sum_n dy",
    "N=1 in training mode: PyTorch raises ValueError('Expected more than 1 value per channel "
    "when training ...'); no golden case for it",
]


def batchnorm_inputs(n, c, inputs):
    """x, x_batch2 and x_batch3 of one case, drawn as `inputs` says."""
    if inputs[0] == "near_constant":
        batches = [randn(n, c) for _ in range(3)]
        for x in batches:
            x[:, 0] = 0.5 + 1e-3 * randn(n)
            x[:, 1] = 2.0
        return batches
    _, scale, shift = inputs
    return [scale * randn(n, c) + shift for _ in range(3)]


def batchnorm_case(name, description, seed, n, c, inputs):
    """One BatchNorm1d case: batch statistics, x_hat, the training pass with its gradients,
    the running statistics after three training passes and the eval output."""
    torch.manual_seed(seed)
    x, x_batch2, x_batch3 = batchnorm_inputs(n, c, inputs)
    if inputs[0] == "identity_affine":
        gamma, beta = torch.ones(c, dtype=F64), torch.zeros(c, dtype=F64)
    else:
        gamma = rand(c) + 0.5
        beta = 0.5 * randn(c)
    dy = randn(n, c)

    mean = x.mean(0)
    var_b = x.var(0, unbiased=False)
    var_u = x.var(0, unbiased=True)
    x_hat = (x - mean) / torch.sqrt(var_b + BN_EPS)

    bn = torch.nn.BatchNorm1d(c, eps=BN_EPS, momentum=BN_MOMENTUM, affine=True, dtype=F64)
    with torch.no_grad():
        bn.weight.copy_(gamma)
        bn.bias.copy_(beta)
    bn.train()
    xv = x.clone().requires_grad_(True)
    y = bn(xv)
    y.backward(dy)
    running = [{"running_mean": tensor(bn.running_mean), "running_var": tensor(bn.running_var)}]
    with torch.no_grad():
        for batch in (x_batch2, x_batch3):
            bn(batch)
            running.append(
                {"running_mean": tensor(bn.running_mean), "running_var": tensor(bn.running_var)}
            )
        bn.eval()
        y_eval = bn(x)

    return {
        "name": name,
        "description": description,
        "N": n,
        "C": c,
        "x": tensor(x),
        "gamma": tensor(gamma),
        "beta": tensor(beta),
        "dy": tensor(dy),
        "batch_mean": tensor(mean),
        "batch_var_biased": tensor(var_b),
        "batch_var_unbiased": tensor(var_u),
        "x_hat": tensor(x_hat),
        "y": tensor(y),
        "dx": tensor(xv.grad),
        "dgamma": tensor(bn.weight.grad),
        "dbeta": tensor(bn.bias.grad),
        "x_batch2": tensor(x_batch2),
        "x_batch3": tensor(x_batch3),
        "running_after_each_pass": running,
        "running_mean_final": tensor(bn.running_mean),
        "running_var_final": tensor(bn.running_var),
        "y_eval_on_x_after_3_passes": tensor(y_eval),
    }


def make_batchnorm1d():
    """`BatchNorm1d(C, eps=1e-5, momentum=0.1, affine=True)`, every case of BATCHNORM_CASES."""
    out = header()
    out["generated_by"] = generated_by()
    out.update(
        {
            "eps": BN_EPS,
            "momentum": BN_MOMENTUM,
            "affine": True,
            "initial_running_mean": 0.0,
            "initial_running_var": 1.0,
            "notes": BATCHNORM_NOTES,
            "cases": [batchnorm_case(*case) for case in BATCHNORM_CASES],
        }
    )
    return out



# --------------------------------------------------------------------------------------------
# batchnorm2d.json
# --------------------------------------------------------------------------------------------

# Each case: (name, description, seed, shape, inputs, config). `shape` is [N, C, H, W] for
# BatchNorm2d, [N, C, L] for BatchNorm1d on a sequence; `inputs` as in BATCHNORM_CASES;
# `config` what differs from PyTorch's defaults (eps 1e-5, momentum 0.1, affine, tracking).
# Draws after torch.manual_seed(seed): x, x_batch2, x_batch3, then gamma and beta (when
# affine), then dy.
BATCHNORM2D_CASES = [
    # The plain case: statistics per channel over N, H and W.
    ("basic_2x3x4x5", "BatchNorm2d(3) on [2, 3, 4, 5]", 21, [2, 3, 4, 5], ("normal", 1, 0), {}),
    # One image: legal in training, as each channel still has H*W > 1 values.
    ("one_image_1x2x3x3", "N=1: 9 values per channel, so training accepts it", 22,
     [1, 2, 3, 3], ("normal", 1, 0), {}),
    # A 1x1 image: the statistics are over the batch alone, as BatchNorm1d's.
    ("pixel_4x3x1x1", "H=W=1: BatchNorm1d's statistics", 23, [4, 3, 1, 1], ("normal", 1, 0), {}),
    # Mean 1e3: the one-sweep statistics' shift must be the channel's own value.
    ("large_mean_1e3_3x2x4x4", "input mean 1e3, std 1", 24, [3, 2, 4, 4], ("normal", 1, 1000), {}),
    # Channel 1 exactly constant: x_hat 0, y = beta, a finite dx.
    ("near_constant_2x3x3x3", "channel 0: 0.5 + 1e-3*noise; channel 1: exactly 2.0", 25,
     [2, 3, 3, 3], ("near_constant",), {}),
    # 40 images: two chunks of rows (32 and 8), whose sums are added in order.
    ("two_chunks_40x2x2x3", "N=40 (two chunks of rows), input mean 3 std 2", 26, [40, 2, 2, 3],
     ("normal", 2, 3), {}),
    # The settings a user changes.
    ("momentum_none_3x2x3x4", "momentum=None: a cumulative average of the batches", 27,
     [3, 2, 3, 4], ("normal", 1, 0.5), {"momentum": None}),
    ("affine_off_2x3x3x2", "affine=False: y = x_hat", 28, [2, 3, 3, 2], ("normal", 1, 0),
     {"affine": False}),
    ("tracking_off_2x3x3x3", "track_running_stats=False: batch statistics in eval too", 29,
     [2, 3, 3, 3], ("normal", 1, 0), {"track_running_stats": False}),
    # BatchNorm1d on PyTorch's (N, C, L): the same op, one spatial dimension.
    ("bn1d_ncl_4x3x5", "BatchNorm1d(3) on [4, 3, 5]", 30, [4, 3, 5], ("normal", 1, 0), {}),
    ("bn1d_ncl_momentum_none_2x2x7", "BatchNorm1d(2) on [2, 2, 7], momentum=None", 31,
     [2, 2, 7], ("normal", 1, 0), {"momentum": None}),
]


def batchnorm_nd_case(name, description, seed, shape, inputs, config):
    """One BatchNorm2d (or BatchNorm1d on [N, C, L]) case: the batch statistics, the training
    pass with its gradients, the running statistics after three passes, the eval output."""
    torch.manual_seed(seed)
    c = shape[1]
    if inputs[0] == "near_constant":
        batches = [randn(*shape) for _ in range(3)]
        for x in batches:
            x[:, 0] = 0.5 + 1e-3 * randn(*x[:, 0].shape)
            x[:, 1] = 2.0
    else:
        _, scale, shift = inputs
        batches = [scale * randn(*shape) + shift for _ in range(3)]
    x = batches[0]
    settings = {"eps": BN_EPS, "momentum": BN_MOMENTUM, "affine": True,
                "track_running_stats": True, **config}
    module = torch.nn.BatchNorm2d if len(shape) == 4 else torch.nn.BatchNorm1d
    bn = module(c, dtype=F64, **settings)
    if settings["affine"]:
        with torch.no_grad():
            bn.weight.copy_(rand(c) + 0.5)
            bn.bias.copy_(0.5 * randn(c))
    dy = randn(*shape)
    dims = [0] + list(range(2, len(shape)))

    bn.train()
    xv = x.clone().requires_grad_(True)
    y = bn(xv)
    y.backward(dy)
    case = {
        "name": name,
        "description": description,
        "module": module.__name__,
        "settings": settings,
        "x": tensor(x),
        "x_batch2": tensor(batches[1]),
        "x_batch3": tensor(batches[2]),
        "dy": tensor(dy),
        "batch_mean": tensor(x.mean(dims)),
        "batch_var_biased": tensor(x.var(dims, unbiased=False)),
        "batch_var_unbiased": tensor(x.var(dims, unbiased=True)),
        "y": tensor(y),
        "dx": tensor(xv.grad),
    }
    if settings["affine"]:
        case.update(gamma=tensor(bn.weight), beta=tensor(bn.bias),
                    dgamma=tensor(bn.weight.grad), dbeta=tensor(bn.bias.grad))
    def running():
        """The running statistics now, or nothing without tracking."""
        if not settings["track_running_stats"]:
            return []
        return [{"running_mean": tensor(bn.running_mean), "running_var": tensor(bn.running_var),
                 "num_batches_tracked": int(bn.num_batches_tracked)}]

    after_each_pass = running()
    with torch.no_grad():
        for batch in batches[1:]:
            bn(batch)
            after_each_pass += running()
        bn.eval()
        case["running_after_each_pass"] = after_each_pass
        case["y_eval_on_x_after_3_passes"] = tensor(bn(x))
    return case


def make_batchnorm2d():
    """`BatchNorm2d`, and `BatchNorm1d` on `[N, C, L]`: every case of BATCHNORM2D_CASES."""
    out = header()
    out["generated_by"] = generated_by()
    out["notes"] = [
        "statistics per channel over every dimension but 1 (N, H, W; or N, L)",
        "running_var tracks the unbiased variance over those N*H*W values",
        "without tracking, eval normalises with the batch statistics; running_after_each_pass "
        "is then empty",
    ] + BATCHNORM_NOTES[:4]
    out["cases"] = [batchnorm_nd_case(*case) for case in BATCHNORM2D_CASES]
    return out

# --------------------------------------------------------------------------------------------
# mlp_ce.json
# --------------------------------------------------------------------------------------------

# Each case: (name, description, seed, batch_norm). x[6,4], labels in 0..3, W = 0.7*randn,
# b = 0.3*randn and, with BatchNorm, gamma = rand + 0.5 and beta = 0.2*randn, drawn in that
# order after torch.manual_seed(seed).
MLP_CASES = [
    # The composition of linear, ReLU and mean cross-entropy: the loss, the logits and every
    # gradient, so a wrong transpose, a missing 1/N or relu'(0) = 1 shows up.
    ("linear_relu_linear_ce", "x[6,4] -> Linear(4,5) -> ReLU -> Linear(5,3) -> cross-entropy",
     12, False),
    # The same with a training-mode BatchNorm1d between the first Linear and the ReLU: the
    # gradient through the batch statistics reaches W1 and x (db1 is about 0: BN removes it).
    ("linear_bn_relu_linear_ce",
     "x[6,4] -> Linear(4,5) -> BatchNorm1d(5) -> ReLU -> Linear(5,3) -> cross-entropy",
     13, True),
]

MLP_NOTES = [
    "loss = F.cross_entropy(logits, labels), mean over the batch",
    "Linear: y = x @ W^T + b, W is [out, in]",
    "BN variant: z1 -> BatchNorm1d (training mode, batch stats, eps 1e-5) -> ReLU; bias b1 kept "
    "although BN makes it irrelevant (db1 ~ 0)",
    "relu'(0) = 0 (PyTorch convention)",
]


def mlp_case(name, description, seed, batch_norm):
    """One MLP case: inputs, weights, intermediates, the loss and every gradient."""
    n, d_in, hidden, classes = 6, 4, 5, 3
    torch.manual_seed(seed)
    x = randn(n, d_in)
    labels = torch.randint(0, classes, (n,))
    params = {
        "W1": 0.7 * randn(hidden, d_in),
        "b1": 0.3 * randn(hidden),
        "W2": 0.7 * randn(classes, hidden),
        "b2": 0.3 * randn(classes),
    }
    if batch_norm:
        params["gamma"] = rand(hidden) + 0.5
        params["beta"] = 0.2 * randn(hidden)
    for p in params.values():
        p.requires_grad_(True)
    xv = x.clone().requires_grad_(True)

    z1 = F.linear(xv, params["W1"], params["b1"])
    if batch_norm:
        # Training-mode BatchNorm1d written out (what nn.BatchNorm1d computes, to rounding):
        # the batch mean and biased variance, differentiated through.
        mean = z1.mean(0)
        var = z1.var(0, unbiased=False)
        relu_input = (z1 - mean) / torch.sqrt(var + BN_EPS) * params["gamma"] + params["beta"]
    else:
        relu_input = z1
    h = F.relu(relu_input)
    logits = F.linear(h, params["W2"], params["b2"])
    loss = F.cross_entropy(logits, labels)
    loss.backward()

    case = {
        "name": name,
        "description": description,
        "N": n,
        "in": d_in,
        "hidden": hidden,
        "classes": classes,
        "x": tensor(x),
        "labels": labels.tolist(),
        "z1": tensor(z1),
        "relu_input": tensor(relu_input),
        "h": tensor(h),
        "logits": tensor(logits),
        "softmax": tensor(torch.softmax(logits, dim=1)),
        "loss": loss.item(),
        "relu_inputs_le_zero": int((relu_input <= 0).sum()),
        "dx": tensor(xv.grad),
    }
    for key, p in params.items():
        case[key] = tensor(p)
        case["d" + key] = tensor(p.grad)
    return case


def make_mlp_ce():
    """Two small MLPs trained one step's worth: forward values and every gradient."""
    out = header()
    out["generated_by"] = generated_by()
    out["notes"] = MLP_NOTES
    out["cases"] = [mlp_case(*case) for case in MLP_CASES]
    return out


# --------------------------------------------------------------------------------------------
# dropout.json
# --------------------------------------------------------------------------------------------

DROPOUT_P = 0.3
DROPOUT_NOTE = (
    "nn.Dropout(p) is inverted dropout: in training each element is zeroed with probability p "
    "and the kept ones are scaled by 1/(1-p), so E[y] = x; in eval mode it is the identity (no "
    "scaling). Backward: dx = dy * mask / (1-p) with the same mask. p=0 is identity; p=1 gives "
    "all zeros (PyTorch returns zeros, not NaN). Masks come from the RNG, so only this "
    "explicit-mask example and statistical properties are comparable across frameworks."
)


def make_dropout():
    """Dropout's semantics on an explicit keep-mask (a mask drawn by another generator cannot
    be compared), eval as the identity, and the statistics of PyTorch's own masks."""
    p = DROPOUT_P
    # The example: x, dy and a keep-mask (kept where a uniform draw is >= p), seed 7. The
    # training output and the gradient are PyTorch's autograd through x * mask / (1 - p);
    # the eval output is nn.Dropout's.
    torch.manual_seed(7)
    x = randn(4, 5)
    dy = randn(4, 5)
    mask = (rand(4, 5) >= p).to(F64)
    xv = x.clone().requires_grad_(True)
    y_train = xv * mask / (1 - p)
    y_train.backward(dy)
    drop = torch.nn.Dropout(p)
    drop.eval()
    y_eval = drop(x)

    # PyTorch's own masks on a million ones, seed 0: the kept fraction is about 1 - p, the
    # values are 0 and 1/(1-p), the mean is about 1 (what a from-scratch dropout can match
    # statistically, not element by element).
    torch.manual_seed(0)
    ones = F.dropout(torch.ones(1000, 1000, dtype=F64), p, training=True)
    stats = {
        "p": p,
        "fraction_kept": (ones != 0).sum().item() / ones.numel(),
        "distinct_values": torch.unique(ones).tolist(),
        "mean": ones.mean().item(),
    }

    out = header()
    out["generated_by"] = generated_by()
    out.update(
        {
            "note": DROPOUT_NOTE,
            "p": p,
            "x": tensor(x),
            "mask_kept": tensor(mask),
            "y_train": tensor(y_train),
            "dy": tensor(dy),
            "dx": tensor(xv.grad),
            "y_eval": tensor(y_eval),
            "torch_dropout_stats_on_ones_1000x1000": stats,
        }
    )
    return out


# --------------------------------------------------------------------------------------------
# optim.json
# --------------------------------------------------------------------------------------------

OPTIM_STEPS = 20

# Each case: (name, hyper). `hyper` is written to the file as is; it lists only what differs
# from PyTorch's defaults (plus lr, betas and eps where a case spells them out), and
# `weight_decay_kind` says which decay the Rust side must build ("l2": added to the gradient;
# "decoupled": AdamW's). Every case runs the same 20 gradients from the same p0.
OPTIM_CASES = [
    # SGD: p -= lr * g.
    ("sgd_plain", {"optimizer": "sgd", "lr": 0.1}),
    # Momentum: the buffer starts as the first gradient itself (not (1 - dampening) * g).
    ("sgd_momentum", {"optimizer": "sgd", "lr": 0.1, "momentum": 0.9}),
    # Dampening scales the gradient added to the buffer from the second step on.
    ("sgd_momentum_dampening",
     {"optimizer": "sgd", "lr": 0.1, "momentum": 0.9, "dampening": 0.5}),
    # Nesterov: the step is g + momentum * buffer.
    ("sgd_nesterov", {"optimizer": "sgd", "lr": 0.1, "momentum": 0.9, "nesterov": True}),
    # L2 weight decay is added to the gradient before the momentum buffer.
    ("sgd_momentum_wd_l2",
     {"optimizer": "sgd", "lr": 0.1, "momentum": 0.9, "weight_decay": 0.01,
      "weight_decay_kind": "l2"}),
    # Adam with its defaults: bias correction of both moments, eps outside the square root.
    ("adam", {"optimizer": "adam", "lr": 0.001, "betas": [0.9, 0.999], "eps": 1e-08}),
    # Adam's weight decay is L2 (added to the gradient, so it passes through the moments).
    ("adam_lr0.05_wd_l2",
     {"optimizer": "adam", "lr": 0.05, "weight_decay": 0.01, "weight_decay_kind": "l2"}),
    # AMSGrad: the running maximum of the second moment, bias-corrected after the maximum.
    ("adam_amsgrad", {"optimizer": "adam", "lr": 0.05, "amsgrad": True}),
    # AdamW: the decay multiplies p by (1 - lr * wd) before the Adam update.
    ("adamw",
     {"optimizer": "adamw", "lr": 0.001, "betas": [0.9, 0.999], "eps": 1e-08,
      "weight_decay": 0.01, "weight_decay_kind": "decoupled"}),
    # A strong decoupled decay at a large learning rate, where a coupled decay would differ.
    ("adamw_lr0.05_wd0.1",
     {"optimizer": "adamw", "lr": 0.05, "weight_decay": 0.1, "weight_decay_kind": "decoupled"}),
]

OPTIM_NOTES = [
    "PyTorch defaults apply to every hyperparameter not listed (dampening 0, nesterov false, "
    "weight_decay 0, betas 0.9/0.999, eps 1e-8, amsgrad false)",
    "each step sets p.grad = grads[t] and calls step(); p_after_each_step[t] is p after step t+1",
    "l2 weight decay adds weight_decay*p to the gradient; decoupled (AdamW) multiplies p by "
    "(1 - lr*weight_decay) before the Adam update",
]


def torch_optimizer(param, hyper):
    """The torch.optim optimizer a case's `hyper` describes."""
    kwargs = {k: v for k, v in hyper.items() if k not in ("optimizer", "weight_decay_kind")}
    if "betas" in kwargs:
        kwargs["betas"] = tuple(kwargs["betas"])
    cls = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam, "adamw": torch.optim.AdamW}
    return cls[hyper["optimizer"]]([param], **kwargs)


def make_optim():
    """20 steps of each optimizer of OPTIM_CASES on one parameter."""
    torch.manual_seed(42)
    p0 = randn(3, 4)
    grads = [randn(3, 4) for _ in range(OPTIM_STEPS)]
    cases = []
    for name, hyper in OPTIM_CASES:
        p = p0.clone().requires_grad_(True)
        opt = torch_optimizer(p, hyper)
        trajectory = []
        for g in grads:
            p.grad = g.clone()
            opt.step()
            trajectory.append(tensor(p))
        cases.append({"name": name, "hyper": hyper, "p_after_each_step": trajectory})
    out = header()
    out.update(
        {
            "notes": OPTIM_NOTES,
            "p0": tensor(p0),
            "grads": [tensor(g) for g in grads],
            "cases": cases,
            "generated_by": generated_by(),
        }
    )
    return out


# --------------------------------------------------------------------------------------------
# schedules.json
# --------------------------------------------------------------------------------------------

SCHEDULE_EPOCHS = 30

# Each case: (name, spec). `spec` is written as is and read by the Rust test, which builds the
# same schedule from it; `torch_scheduler` builds PyTorch's.
SCHEDULE_CASES = [
    # Halving every 7 epochs: the decay happens at epochs 7, 14, 21, 28.
    ("step_lr", {"kind": "step", "base_lr": 0.1, "step_size": 7, "gamma": 0.5}),
    # Decays at the listed epochs only.
    ("multistep_lr", {"kind": "multistep", "base_lr": 0.1, "milestones": [5, 12, 20],
                      "gamma": 0.1}),
    # lr * gamma^epoch, as PyTorch accumulates it (one multiplication per epoch).
    ("exponential_lr", {"kind": "exponential", "base_lr": 0.1, "gamma": 0.9}),
    # Cosine from base_lr to eta_min over t_max epochs, and back up after t_max (PyTorch does
    # not stop at eta_min).
    ("cosine_annealing", {"kind": "cosine", "base_lr": 0.1, "t_max": 20, "eta_min": 0.001}),
    # Linear warm-up from start_factor * base_lr to base_lr over total_iters epochs.
    ("linear_warmup_5", {"kind": "linear_warmup", "base_lr": 0.1, "start_factor": 0.2,
                         "end_factor": 1.0, "total_iters": 5}),
    # SequentialLR: warm-up, then a cosine that starts its own count at the milestone.
    ("warmup_then_cosine",
     {"kind": "sequential", "base_lr": 0.1,
      "parts": [{"kind": "linear_warmup", "start_factor": 0.1, "end_factor": 1.0,
                 "total_iters": 4},
                {"kind": "cosine", "t_max": 26, "eta_min": 0.0}],
      "milestones": [4]}),
]

SCHEDULE_NOTES = [
    "lr_per_epoch[e] is the learning rate used during epoch e (read before scheduler.step())",
    "schedules are stepped once per epoch here; stepping per iteration is the same arithmetic",
]


def torch_scheduler(opt, spec):
    """The torch.optim.lr_scheduler a `spec` (or one part of a sequential spec) describes."""
    sched = torch.optim.lr_scheduler
    kind = spec["kind"]
    if kind == "step":
        return sched.StepLR(opt, step_size=spec["step_size"], gamma=spec["gamma"])
    if kind == "multistep":
        return sched.MultiStepLR(opt, milestones=spec["milestones"], gamma=spec["gamma"])
    if kind == "exponential":
        return sched.ExponentialLR(opt, gamma=spec["gamma"])
    if kind == "cosine":
        return sched.CosineAnnealingLR(opt, T_max=spec["t_max"], eta_min=spec["eta_min"])
    if kind == "linear_warmup":
        return sched.LinearLR(
            opt,
            start_factor=spec["start_factor"],
            end_factor=spec["end_factor"],
            total_iters=spec["total_iters"],
        )
    if kind == "sequential":
        parts = [torch_scheduler(opt, part) for part in spec["parts"]]
        return sched.SequentialLR(opt, schedulers=parts, milestones=spec["milestones"])
    raise ValueError(f"unknown schedule kind {kind}")


def make_schedules():
    """The learning rate of each epoch for every schedule of SCHEDULE_CASES."""
    cases = []
    for name, spec in SCHEDULE_CASES:
        param = torch.zeros(1, dtype=F64, requires_grad=True)
        opt = torch.optim.SGD([param], lr=spec["base_lr"])
        scheduler = torch_scheduler(opt, spec)
        lrs = []
        for _ in range(SCHEDULE_EPOCHS):
            lrs.append(opt.param_groups[0]["lr"])
            opt.step()
            scheduler.step()
        cases.append({"name": name, "spec": spec, "lr_per_epoch": lrs})
    out = header()
    out.update(
        {
            "notes": SCHEDULE_NOTES,
            "epochs": SCHEDULE_EPOCHS,
            "cases": cases,
            "generated_by": generated_by(),
        }
    )
    return out


# --------------------------------------------------------------------------------------------
# layernorm.json
# --------------------------------------------------------------------------------------------

LN_EPS = 1e-5
LN_SEED = 43

# Each case: (name, N, D, scale, shift): x = scale*randn(N, D) + shift, weight = rand + 0.5,
# bias = 0.5*randn, dy = randn, in that order, every case continuing the one stream seeded
# once with LN_SEED (so new cases go at the end).
LAYERNORM_CASES = [
    # Ordinary rows.
    ("ln_4x6", 4, 6, 1, 0),
    # Rows with mean 50 and std 2: the row variance must not be computed as E[x^2] - E[x]^2.
    ("ln_3x16_shifted", 3, 16, 2, 50),
    # More rows than features, mean -1 std 0.5.
    ("ln_8x5", 8, 5, 0.5, -1),
    # A batch of one row is valid for LayerNorm (BatchNorm rejects it in training).
    ("ln_1x10_batch_of_one", 1, 10, 1, 0),
]

LAYERNORM_NOTES = [
    "nn.LayerNorm(D, eps=1e-5, elementwise_affine=True) over the last dimension",
    "normalizes each row with its own mean and BIASED variance; same in train and eval",
    "a batch of one row is valid (unlike BatchNorm in training)",
]


def layernorm_case(name, n, d, scale, shift):
    """One LayerNorm case (drawing from the shared stream): forward and gradients."""
    x = scale * randn(n, d) + shift
    weight = rand(d) + 0.5
    bias = 0.5 * randn(d)
    dy = randn(n, d)
    ln = torch.nn.LayerNorm(d, eps=LN_EPS, elementwise_affine=True, dtype=F64)
    with torch.no_grad():
        ln.weight.copy_(weight)
        ln.bias.copy_(bias)
    xv = x.clone().requires_grad_(True)
    y = ln(xv)
    y.backward(dy)
    return {
        "name": name,
        "N": n,
        "D": d,
        "x": tensor(x),
        "weight": tensor(weight),
        "bias": tensor(bias),
        "dy": tensor(dy),
        "y": tensor(y),
        "dx": tensor(xv.grad),
        "dweight": tensor(ln.weight.grad),
        "dbias": tensor(ln.bias.grad),
    }


def make_layernorm():
    """`LayerNorm(D, eps=1e-5)` forward and gradients for every case of LAYERNORM_CASES."""
    torch.manual_seed(LN_SEED)
    cases = [layernorm_case(*case) for case in LAYERNORM_CASES]
    out = header()
    out.update(
        {
            "notes": LAYERNORM_NOTES,
            "eps": LN_EPS,
            "cases": cases,
            "generated_by": generated_by(),
        }
    )
    return out


# --------------------------------------------------------------------------------------------
# conv_pool.json
# --------------------------------------------------------------------------------------------

# Each case: (name, seed, x shape, weight shape, settings, bias). After torch.manual_seed(seed)
# x = randn, weight = 0.5*randn, bias = 0.5*randn (when there is one) and dy = randn of the
# output's shape, in that order. `settings` are F.conv2d's stride, padding, dilation and groups
# (pairs written [h, w]); what is not given is PyTorch's default.
CONV_CASES = [
    # Stride 2 on an input whose width does not divide: the last columns are never read.
    ("conv_stride2", 31, [2, 3, 7, 8], [4, 3, 3, 3], {"stride": [2, 2]}, True),
    # Zero padding 1 (a "same" 3x3): the border outputs read zeros.
    ("conv_padding1", 32, [2, 2, 5, 5], [3, 2, 3, 3], {"padding": [1, 1]}, True),
    # Dilation 2 with padding 1: taps two pixels apart.
    ("conv_dilation2", 33, [1, 2, 9, 8], [2, 2, 3, 3], {"dilation": [2, 2], "padding": [1, 1]},
     True),
    # A 2x4 kernel on a 6x9 input, stride (2, 1), padding (1, 2): every pair of settings
    # differs between height and width, so a swapped axis shows.
    ("conv_nonsquare", 34, [2, 2, 6, 9], [3, 2, 2, 4], {"stride": [2, 1], "padding": [1, 2]},
     True),
    # A pointwise (1x1) convolution: a matrix product over channels at every pixel.
    ("conv_1x1", 35, [2, 4, 5, 5], [6, 4, 1, 1], {}, True),
    # Two groups: output channels 0-2 see input channels 0-1 only, 3-5 see 2-3.
    ("conv_groups2", 36, [2, 4, 6, 6], [6, 2, 3, 3], {"groups": 2, "padding": [1, 1]}, True),
    # Depthwise: one filter per channel (groups = C_in = C_out).
    ("conv_depthwise", 37, [2, 3, 6, 6], [3, 1, 3, 3], {"groups": 3, "padding": [1, 1]}, True),
    # Depthwise with two filters per channel (C_out = 2 C_in).
    ("conv_depthwise_x2", 38, [2, 3, 5, 6], [6, 1, 3, 3], {"groups": 3}, True),
    # No bias: F.conv2d(x, w, None).
    ("conv_no_bias", 39, [2, 3, 5, 6], [4, 3, 3, 2], {"stride": [1, 2]}, False),
    # The MNIST net's first layer on a small image: one input channel, 8 filters.
    ("conv_one_channel", 40, [3, 1, 12, 12], [8, 1, 3, 3], {}, True),
]

# Each case: (name, seed, op, x shape, settings, inputs). After torch.manual_seed(seed) x is
# drawn as `inputs` says, then dy = randn of the output's shape. `inputs`: ("normal", shift)
# is randn + shift; ("ties", k) is integers drawn from 0..k, so that windows hold ties.
POOL_CASES = [
    # Ties everywhere (values 0, 1, 2): the gradient goes to the first maximum of a window in
    # row-major order.
    ("max_pool_ties", 41, "max_pool2d", [2, 2, 6, 6], {"kernel_size": [2, 2]}, ("ties", 3)),
    # Overlapping windows (stride 1) with ties: an input that is the first maximum of several
    # windows collects all their gradients.
    ("max_pool_overlap_ties", 42, "max_pool2d", [1, 2, 5, 6],
     {"kernel_size": [3, 3], "stride": [1, 1]}, ("ties", 2)),
    # Padding 1 on inputs all below 0: the padding is -inf, never the maximum.
    ("max_pool_padding", 43, "max_pool2d", [2, 3, 7, 7],
     {"kernel_size": [3, 3], "stride": [2, 2], "padding": [1, 1]}, ("normal", -3)),
    # A 2x3 window, stride (2, 1), padding (1, 1).
    ("max_pool_nonsquare", 44, "max_pool2d", [2, 2, 5, 6],
     {"kernel_size": [2, 3], "stride": [2, 1], "padding": [1, 1]}, ("normal", 0)),
    # The MNIST net's pooling: 2x2, stride 2.
    ("avg_pool_2", 45, "avg_pool2d", [2, 2, 6, 6], {"kernel_size": [2, 2]}, ("normal", 0)),
    # Padding with count_include_pad=True (PyTorch's default): every window divides by 9,
    # padding counted as zeros.
    ("avg_pool_padding", 46, "avg_pool2d", [2, 3, 7, 7],
     {"kernel_size": [3, 3], "stride": [2, 2], "padding": [1, 1]}, ("normal", 1)),
    # Global average pooling, a classifier's head.
    ("adaptive_avg_1x1", 47, "adaptive_avg_pool2d", [2, 3, 5, 7], {"output_size": [1, 1]},
     ("normal", 0)),
    # Adaptive windows of unequal sizes, overlapping along the width (5 -> 3: columns 0-1,
    # 1-3, 3-4).
    ("adaptive_avg_3x3", 48, "adaptive_avg_pool2d", [2, 2, 7, 5], {"output_size": [3, 3]},
     ("normal", 0)),
]

CONV_POOL_NOTES = [
    "NCHW; conv weight [C_out, C_in / groups, kH, kW]; pairs of settings are [h, w]",
    "conv: F.conv2d(x, weight, bias, stride, padding, dilation, groups); dx, dweight, dbias "
    "are the gradients of sum(y * dy)",
    "max_pool2d: padding is -inf; ties send the gradient to the first maximum of a window in "
    "row-major order",
    "avg_pool2d: count_include_pad=True, ceil_mode=False (PyTorch's defaults): every window "
    "divides by kH * kW",
    "adaptive_avg_pool2d: output o of m averages inputs floor(o n / m) to ceil((o + 1) n / m)",
]


def conv_case(name, seed, x_shape, w_shape, settings, bias):
    """One convolution: inputs, output and the gradients of x, the weight and the bias."""
    torch.manual_seed(seed)
    x = randn(*x_shape).requires_grad_(True)
    weight = (0.5 * randn(*w_shape)).requires_grad_(True)
    b = (0.5 * randn(w_shape[0])).requires_grad_(True) if bias else None
    kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in settings.items()}
    y = F.conv2d(x, weight, b, **kwargs)
    dy = randn(*y.shape)
    y.backward(dy)
    case = {"name": name, "op": "conv2d", "settings": settings, "x": tensor(x),
            "weight": tensor(weight)}
    if bias:
        case["bias"] = tensor(b)
    case.update({"dy": tensor(dy), "y": tensor(y), "dx": tensor(x.grad),
                 "dweight": tensor(weight.grad)})
    if bias:
        case["dbias"] = tensor(b.grad)
    return case


def pool_case(name, seed, op, x_shape, settings, inputs):
    """One pooling: the input, the output and the input's gradient."""
    torch.manual_seed(seed)
    if inputs[0] == "ties":
        x = torch.randint(0, inputs[1], x_shape).to(F64)
    else:
        x = randn(*x_shape) + inputs[1]
    x.requires_grad_(True)
    kwargs = {k: tuple(v) for k, v in settings.items()}
    y = getattr(F, op)(x, **kwargs)
    dy = randn(*y.shape)
    y.backward(dy)
    return {"name": name, "op": op, "settings": settings, "x": tensor(x), "dy": tensor(dy),
            "y": tensor(y), "dx": tensor(x.grad)}


def make_conv_pool():
    """conv2d in every configuration of CONV_CASES and the poolings of POOL_CASES, forward and
    gradients."""
    out = header()
    out.update(
        {
            "notes": CONV_POOL_NOTES,
            "cases": [conv_case(*c) for c in CONV_CASES] + [pool_case(*c) for c in POOL_CASES],
            "generated_by": generated_by(),
        }
    )
    return out


# --------------------------------------------------------------------------------------------
# Writing and checking
# --------------------------------------------------------------------------------------------

def make_edge_cases():
    """The extreme-value suite of `edge_cases.py` (its docstring lists the cases). PyTorch's
    float32 sums over millions of elements depend on its thread count, so one thread."""
    import edge_cases

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return edge_cases.build()
    finally:
        torch.set_num_threads(threads)


FILES = {
    "batchnorm1d.json": make_batchnorm1d,
    "batchnorm2d.json": make_batchnorm2d,
    "conv_pool.json": make_conv_pool,
    "edge_cases.json": make_edge_cases,
    "dropout.json": make_dropout,
    "layernorm.json": make_layernorm,
    "mlp_ce.json": make_mlp_ce,
    "optim.json": make_optim,
    "schedules.json": make_schedules,
}

# Keys whose string values name the PyTorch release: a difference is reported, not failed.
VERSION_KEYS = ("torch", "generated_by")


def dumps(tree):
    """The file's text: compact JSON, floats in shortest round-trip form, no final newline."""
    return json.dumps(tree, separators=(",", ":"), allow_nan=False)


def compare(path, new, old, rtol, atol, notes):
    """Differences between two JSON trees (a list of messages); floats within tolerance,
    everything else exact. Returns the largest relative float difference seen too."""
    errors = []
    worst = [0.0]

    def walk(where, a, b):
        if a is None or b is None:
            if a is not b:
                errors.append(f"{where}: {a!r} != committed {b!r}")
        elif isinstance(b, bool) or isinstance(a, bool):
            if a is not b:
                errors.append(f"{where}: {a!r} != committed {b!r}")
        elif isinstance(b, (int, float)) and isinstance(a, (int, float)):
            if isinstance(b, int) and isinstance(a, int):
                if a != b:
                    errors.append(f"{where}: {a} != committed {b}")
                return
            diff = abs(a - b)
            if diff > 0:
                worst[0] = max(worst[0], diff / abs(b) if b != 0 else math.inf)
            if not diff <= atol + rtol * abs(b):
                errors.append(f"{where}: {a!r} != committed {b!r} (|diff| {diff:.3e})")
        elif isinstance(b, str) and isinstance(a, str):
            if a != b:
                message = f"{where}: {a!r} != committed {b!r}"
                if where.rsplit(".", 1)[-1] in VERSION_KEYS:
                    notes.append(message + " (release name only, not a failure)")
                else:
                    errors.append(message)
        elif isinstance(b, dict) and isinstance(a, dict):
            if list(a) != list(b):
                errors.append(f"{where}: keys {list(a)} != committed {list(b)}")
            for key in b:
                if key in a:
                    walk(f"{where}.{key}", a[key], b[key])
        elif isinstance(b, list) and isinstance(a, list):
            if len(a) != len(b):
                errors.append(f"{where}: length {len(a)} != committed {len(b)}")
                return
            for i, (x, y) in enumerate(zip(a, b)):
                walk(f"{where}[{i}]", x, y)
        else:
            errors.append(f"{where}: {type(a).__name__} != committed {type(b).__name__}")

    walk(path, new, old)
    return errors, worst[0]


def main(argv=None):
    parser = argparse.ArgumentParser(
        description="Regenerate (or check) the PyTorch float64 golden files.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("\n\n", 1)[1],
    )
    parser.add_argument("files", nargs="*", help="files to make (default: all of them)")
    parser.add_argument("--out", type=Path, default=None, help="folder to write into")
    parser.add_argument("--check", action="store_true",
                        help="write into a temporary folder and compare with the committed files")
    parser.add_argument("--rtol", type=float, default=1e-12, help="--check relative tolerance")
    parser.add_argument("--atol", type=float, default=0.0, help="--check absolute tolerance")
    args = parser.parse_args(argv)

    names = args.files or list(FILES)
    unknown = [n for n in names if n not in FILES]
    if unknown:
        parser.error(f"unknown file(s) {unknown}; known: {list(FILES)}")
    if args.check and args.out is not None:
        parser.error("--check writes into a temporary folder; drop --out")

    if args.check:
        tmp = tempfile.TemporaryDirectory(prefix="tapegrad-golden-")
        out_dir = Path(tmp.name)
    else:
        out_dir = args.out or HERE
        out_dir.mkdir(parents=True, exist_ok=True)

    for name in names:
        (out_dir / name).write_text(dumps(FILES[name]()))
        if not args.check:
            print(f"wrote {out_dir / name}")
    if not args.check:
        return 0

    print(f"PyTorch {torch.__version__}; comparing with {HERE} "
          f"(rtol {args.rtol:g}, atol {args.atol:g})")
    failed = False
    for name in names:
        committed_path = HERE / name
        if not committed_path.exists():
            print(f"FAIL {name}: no committed file")
            failed = True
            continue
        new_text = (out_dir / name).read_text()
        old_text = committed_path.read_text()
        notes = []
        errors, worst = compare(name, json.loads(new_text), json.loads(old_text),
                                args.rtol, args.atol, notes)
        identical = "byte-identical" if new_text == old_text else "not byte-identical"
        if errors:
            failed = True
            print(f"FAIL {name}: {len(errors)} difference(s), {identical}")
            for e in errors[:20]:
                print(f"    {e}")
            if len(errors) > 20:
                print(f"    ... and {len(errors) - 20} more")
        else:
            print(f"ok   {name}: {identical}, largest relative float difference {worst:.3e}")
        for n in notes:
            print(f"    note: {n}")
    tmp.cleanup()
    print("MISMATCH" if failed else "all files reproduced")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
