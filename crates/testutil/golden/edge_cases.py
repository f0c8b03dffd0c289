"""Writes edge_cases.json: extreme-value cases for every built-in tapegrad op and optimizer,
with PyTorch's float32 outputs and gradients (as bit patterns) and float64 values.

    /opt/torchvenv/bin/python crates/testutil/golden/edge_cases.py

Kept apart from generate.py so that it can import `build()` (returns the JSON document)
and `write()` later. Checked by crates/core/tests/golden_edges.rs (ops) and
crates/optim/tests/golden_edges.rs (optimizers).

Encoding: a tensor is {"shape": [...], "f32": [IEEE bit patterns of the float32 values],
"f64": [float64 values, with "nan", "inf", "-inf" as strings]}; an input tensor given as
{"shape": [...], "fill": v} is `v` (float32) repeated (long reductions without megabytes of
JSON); a long result whose elements are all equal is stored once, {"shape": [...],
"fill_f32": bits, "fill_f64": value}. Every input is float32; the float64 run takes the same values widened.

Each case names its `reference`: "float32" (PyTorch's float32 result; with rtol = atol = 0 it
is compared bit for bit, any NaN equal to any NaN, zeros by sign) or "float64" where tapegrad
is more exact than PyTorch's float32 (f64 accumulation, f64 optimizer arithmetic); `note` says
why. NaN and infinities must match in position (and sign) under either reference.
"""

import json
import math
import os
import struct

import torch

F32, F64 = torch.float32, torch.float64
INF, NAN = math.inf, math.nan
SUB = 1e-40  # a float32 subnormal
TINY = 1e-20
HUGE = 1e20


def bits(t):
    return [struct.unpack("<I", struct.pack("<f", v))[0] for v in t.reshape(-1).tolist()]


def f64_list(t):
    out = []
    for v in t.reshape(-1).tolist():
        if math.isnan(v):
            out.append("nan")
        elif math.isinf(v):
            out.append("inf" if v > 0 else "-inf")
        else:
            out.append(v)
    return out


def uniform(t):
    flat = t.reshape(-1)
    return flat.numel() > 64 and bool((flat.view(torch.int32 if t.dtype == F32 else torch.int64) ==
                                       flat[:1].view(torch.int32 if t.dtype == F32 else torch.int64)).all())


def enc(t32, t64=None):
    """A result tensor; a long one whose elements are all equal is stored once ("fill")."""
    if uniform(t32) and (t64 is None or uniform(t64)):
        d = {"shape": list(t32.shape), "fill_f32": bits(t32.reshape(-1)[:1])[0]}
        if t64 is not None:
            d["fill_f64"] = f64_list(t64.reshape(-1)[:1])[0]
        return d
    d = {"shape": list(t32.shape), "f32": bits(t32)}
    if t64 is not None:
        d["f64"] = f64_list(t64)
    return d


def enc_input(spec):
    """spec: (shape, list) or (shape, ("fill", v))."""
    shape, values = spec
    if isinstance(values, tuple):
        return {"shape": list(shape), "fill": values[1]}
    t = torch.tensor(values, dtype=F32).reshape(shape)
    return {"shape": list(shape), "f32": bits(t)}


def make(spec, dtype):
    shape, values = spec
    if isinstance(values, tuple):
        return torch.full(shape, values[1], dtype=F32).to(dtype)
    return torch.tensor(values, dtype=F32).reshape(shape).to(dtype)


def run(fn, specs, grad_spec, dtype):
    xs = [make(s, dtype).requires_grad_(True) for s in specs]
    y = fn(*xs)
    g = make(grad_spec, dtype) if grad_spec is not None else torch.ones_like(y)
    grads = torch.autograd.grad(y, xs, g, allow_unused=True)
    grads = [gr if gr is not None else torch.zeros_like(x) for gr, x in zip(grads, xs)]
    return y.detach(), [gr.detach() for gr in grads]


CASES = []


def case(name, op, fn, specs, grad=None, reference="float32", rtol=0.0, atol=0.0, note=None, **args):
    y32, g32 = run(fn, specs, grad, F32)
    y64, g64 = run(fn, specs, grad, F64)
    c = {
        "name": name,
        "op": op,
        "inputs": [enc_input(s) for s in specs],
        "grad_out": enc_input(grad) if grad is not None else None,
        "out": enc(y32, y64),
        "grads": [enc(a, b) for a, b in zip(g32, g64)],
        "reference": reference,
        "rtol": rtol,
        "atol": atol,
    }
    # Non-finite arguments (add_scalar's -inf) as the strings of the f64 lists.
    c.update({k: (f64_list(torch.tensor([v], dtype=F64))[0] if isinstance(v, float) else v)
              for k, v in args.items()})
    if note:
        c["note"] = note
    CASES.append(c)


SPECIALS = [INF, -INF, NAN, HUGE, -HUGE, TINY, SUB, -SUB, 0.0, -0.0, 3.0, -2.5]
OTHERS = [2.0, INF, 1.0, HUGE, 1e-30, HUGE, -SUB, 3.0, -0.0, 0.0, INF, -HUGE]
# The transcendental functions: tapegrad's (Cephes exp, libm) and PyTorch's (Sleef) agree to
# a few ulp, not bit for bit.
ULP = dict(rtol=1e-6, atol=0.0)


def elementwise():
    n = len(SPECIALS)
    a, b = ([n], SPECIALS), ([n], OTHERS)
    g = ([n], [1.0, -1.0, 2.0, 0.5, 1.0, 1.0, 1.0, -1.0, 1.0, 1.0, 1.0, 1.0])
    for op, fn in [("add", torch.add), ("sub", torch.sub), ("mul", torch.mul), ("div", torch.div)]:
        case(f"{op}_specials", op, fn, [a, b], grad=g)
    # One row broadcast over rows: the right operand's gradient is a sum over rows.
    rows = ([2, 3], [1e30, -1e30, NAN, 2.0, INF, -0.0])
    row = ([3], [HUGE, 0.0, 1.0])
    for op, fn in [("add", torch.add), ("mul", torch.mul), ("div", torch.div)]:
        case(f"{op}_row_broadcast", op, fn, [rows, row])
    empty = ([3, 0], [])
    case("mul_zero_width_broadcast", "mul", torch.mul, [empty, ([0], [])])
    case("add_scalar_specials", "add_scalar", lambda x: x + (-INF), [a], scalar=-INF)
    case("add_scalar_huge", "add_scalar", lambda x: x + HUGE, [a], scalar=HUGE)
    case("mul_scalar_zero", "mul_scalar", lambda x: x * 0.0, [a], scalar=0.0)
    case("mul_scalar_negative", "mul_scalar", lambda x: x * -1.0, [a], scalar=-1.0)
    case("mul_scalar_huge", "mul_scalar", lambda x: x * 1e30, [a], scalar=1e30)
    case("reshape_specials", "reshape", lambda x: x.reshape(3, 4), [a], shape=[3, 4])
    case("reshape_zero_size", "reshape", lambda x: x.reshape(3, 0), [([0, 5], [])], shape=[3, 0])


def unary():
    n = len(SPECIALS)
    x = ([n], SPECIALS)
    around = ([8], [-100.0, 100.0, -88.0, 88.0, 89.0, -104.0, 20.0, -20.0])
    positive = ([8], [0.0, -0.0, -1.0, INF, SUB, TINY, HUGE, NAN])
    case("relu_specials", "relu", torch.relu, [x])
    case("sigmoid_specials", "sigmoid", torch.sigmoid, [x], **ULP)
    case("sigmoid_saturation", "sigmoid", torch.sigmoid, [around], rtol=1e-6, atol=1.2e-38,
         note="tapegrad's exp flushes results below f32::MIN_POSITIVE to 0, so sigmoid(-100) "
              "is 0 where PyTorch gives the subnormal 3.8e-44")
    # tanh's gradient 1 - y^2 cancels near saturation: a last-bit difference of tanh(3)
    # between libm and Sleef becomes 2e-6 relative in the gradient.
    case("tanh_specials", "tanh", torch.tanh, [x], rtol=1e-5, atol=0.0,
         note="1 - y^2 amplifies tanh's last-bit difference (libm against Sleef)")
    case("tanh_saturation", "tanh", torch.tanh, [around], rtol=1e-5, atol=0.0,
         note="1 - y^2 amplifies tanh's last-bit difference (libm against Sleef)")
    case("exp_specials", "exp", torch.exp, [x], **ULP)
    case("exp_overflow_underflow", "exp", torch.exp, [around], rtol=1e-6, atol=1.2e-38,
         note="exp(-104) is a float32 subnormal")
    case("log_domain_edges", "log", torch.log, [positive], **ULP)
    case("sqrt_domain_edges", "sqrt", torch.sqrt, [positive], **ULP)


def reductions():
    n = len(SPECIALS)
    x = ([n], SPECIALS)
    finite = ([2, 3], [3e38, 3e38, -3e38, 1.0, TINY, -1.0])
    case("sum_specials", "sum", torch.sum, [x])
    case("mean_specials", "mean", torch.mean, [x])
    case("sum_overflowing_partial", "sum", torch.sum, [finite], reference="float64",
         rtol=1e-7, note="3e38 + 3e38 - 3e38: float32 PyTorch may overflow a partial sum to "
                         "inf; tapegrad accumulates in f64 and gives 3e38")
    case("sum_axis0_overflowing_partial", "sum_axis", lambda t: t.sum(0), [([3, 2], [3e38, 1.0, 3e38, 2.0, -3e38, 3.0])],
         axis=0, reference="float64", rtol=1e-7,
         note="f64 accumulation: 3e38 + 3e38 - 3e38 is 3e38, not inf")
    long_ones = ([2 ** 24 + 4096, 1], ("fill", 1.0))
    case("sum_axis_past_2_24", "sum_axis", lambda t: t.sum(0), [long_ones], axis=0,
         note="float32 PyTorch's pairwise sum is exact here too")
    case("mean_axis_past_2_24", "mean_axis", lambda t: t.mean(0), [long_ones], axis=0)
    tenths = ([1, 10_000_000], ("fill", 0.1))
    case("sum_axis_1e7_tenths", "sum_axis", lambda t: t.sum(1), [tenths], axis=1,
         reference="float64", rtol=1e-7,
         note="PyTorch float32 gives 999999.5625 (rounded partial sums); the exact sum of "
              "the float32 values is 1000000.0149, which tapegrad's f64 accumulation gives")
    case("mean_1e7_tenths", "mean", torch.mean, [tenths], reference="float64", rtol=1e-7,
         note="f64 accumulation, as for sum_axis_1e7_tenths")
    case("sum_axis_with_nan_and_inf", "sum_axis", lambda t: t.sum(1),
         [([3, 4], [INF, -INF, 1.0, 2.0, NAN, 1.0, 2.0, 3.0, INF, HUGE, 1.0, -0.0])], axis=1)
    zero = ([0, 3], [])
    case("sum_axis_over_zero_rows", "sum_axis", lambda t: t.sum(0), [zero], axis=0)
    case("mean_axis_over_zero_rows", "mean_axis", lambda t: t.mean(0), [zero], axis=0,
         note="0 / 0: NaN, as PyTorch")
    case("sum_axis_zero_width", "sum_axis", lambda t: t.sum(1), [([3, 0], [])], axis=1)
    case("mean_axis_of_negative_zeros", "mean_axis", lambda t: t.mean(1),
         [([2, 2], [-0.0, -0.0, -0.0, 1e-45])], axis=1)


def softmax_family():
    for scale in [1e4, 1e6, 1e7, 1e8, 1e20, 1e30]:
        ties = ([2, 4], [scale] * 8)
        case(f"log_softmax_ties_{scale:.0e}", "log_softmax", lambda t: torch.log_softmax(t, -1), [ties],
             grad=([2, 4], [1.0, 0.0, 0.0, 0.0, 0.5, -0.5, 2.0, 0.0]))
        case(f"cross_entropy_ties_{scale:.0e}", "cross_entropy",
             lambda t: torch.nn.functional.cross_entropy(t, torch.tensor([2, 0])), [ties], labels=[2, 0])
    odd = ([5, 3], [1e30, 1e30, 0.0, -INF, 0.0, 1.0, -INF, -INF, -INF, INF, 0.0, 1.0, NAN, 1.0, 2.0])
    case("log_softmax_infinities_and_nan", "log_softmax", lambda t: torch.log_softmax(t, -1), [odd],
         rtol=1e-6, atol=1e-7)
    near = ([2, 3], [1e8, 1e8 - 8, 1e8 - 16, -TINY, TINY, SUB])
    case("log_softmax_nearly_tied", "log_softmax", lambda t: torch.log_softmax(t, -1), [near],
         rtol=1e-6, atol=1e-7)
    labels = [0, 1]
    case("cross_entropy_1e30_pair", "cross_entropy",
         lambda t: torch.nn.functional.cross_entropy(t, torch.tensor(labels)),
         [([2, 3], [1e30, 1e30, 0.0, 0.0, -INF, 5.0])], labels=labels, rtol=1e-6, atol=1e-7,
         note="exp differs in the last bit from Sleef's; the second row's label has logit -inf: loss inf, as PyTorch")
    lbl = [0, 2]
    case("cross_entropy_neg_inf_other_classes", "cross_entropy",
         lambda t: torch.nn.functional.cross_entropy(t, torch.tensor(lbl)),
         [([2, 3], [0.0, -INF, -INF, 1.0, 2.0, 3.0])], labels=lbl, rtol=1e-6, atol=1e-7)
    lbl3 = [1]
    case("cross_entropy_nan_logit", "cross_entropy",
         lambda t: torch.nn.functional.cross_entropy(t, torch.tensor(lbl3)),
         [([1, 3], [0.0, NAN, 1.0])], labels=lbl3)
    wide = ([2, 1000], [((i * 37) % 101) * 1e4 for i in range(2000)])
    lblw = [5, 999]
    case("cross_entropy_1000_classes_1e4_scale", "cross_entropy",
         lambda t: torch.nn.functional.cross_entropy(t, torch.tensor(lblw)), [wide], labels=lblw,
         rtol=1e-6, atol=1e-7)
    case("log_softmax_zero_width", "log_softmax", lambda t: torch.log_softmax(t, -1), [([3, 0], [])])


def products():
    a = ([2, 3], [HUGE, HUGE, 1.0, NAN, 0.0, 1.0])
    b = ([3, 2], [HUGE, 1.0, HUGE, 0.0, -INF, 2.0])
    case("matmul_overflow_and_nan", "matmul", torch.matmul, [a, b], rtol=1e-6, atol=0.0,
         note="GEMM summation order differs from PyTorch's BLAS: a few ulp")
    sub = ([2, 2], [SUB, TINY, 1e-30, -TINY])
    case("matmul_tiny", "matmul", torch.matmul, [sub, ([2, 2], [TINY, 1.0, 1e-30, 1.0])], rtol=1e-6, atol=1e-44)
    x = ([2, 3], [1.0, -2.0, 0.5, HUGE, -HUGE, 0.0])
    w = ([2, 3], [1.0, 1.0, 1.0, TINY, 0.0, -1.0])
    bias = ([2], [INF, -0.0])
    case("linear_huge_and_inf_bias", "linear", torch.nn.functional.linear, [x, w, bias], bias=True,
         rtol=1e-6)
    case("linear_zero_outputs", "linear", torch.nn.functional.linear,
         [([2, 3], [1.0] * 6), ([0, 3], []), ([0], [])], bias=True)
    case("linear_zero_inputs", "linear", torch.nn.functional.linear,
         [([2, 0], []), ([3, 0], []), ([3], [1.0, -0.0, NAN])], bias=True)
    case("linear_no_bias_zero_batch", "linear", torch.nn.functional.linear,
         [([0, 3], []), ([2, 3], [1.0] * 6)], bias=False)
    # Transposes by strides: op(a) @ op(b) with a stored [3, 2] and b stored [2, 3].
    at = ([3, 2], [HUGE, 1.0, HUGE, NAN, 1.0, -INF])
    bt = ([2, 3], [1.0, HUGE, 0.0, -0.0, 1.0, 2.0])
    case("matmul_t_both_transposed", "matmul_t", lambda a, b: a.T @ b.T, [at, bt],
         trans_a=True, trans_b=True, rtol=1e-6, atol=0.0,
         note="GEMM summation order differs from PyTorch's BLAS: a few ulp")
    case("matmul_t_b_transposed_tiny", "matmul_t", lambda a, b: a @ b.T,
         [([2, 2], [SUB, TINY, 1e-30, -TINY]), ([2, 2], [TINY, 1.0, 1e-30, 1.0])],
         trans_a=False, trans_b=True, rtol=1e-6, atol=1e-44)
    # The fused Linear + ReLU: a pre-activation of exactly 0 and of -0.0 (ReLU's gradient is 0
    # there, as PyTorch's threshold_backward), NaN and inf through the ReLU.
    xr = ([2, 3], [1.0, -1.0, 0.0, NAN, HUGE, -HUGE])
    wr = ([3, 3], [1.0, 1.0, 0.0, -1.0, 0.0, 0.0, 0.0, 0.0, 1.0])
    br = ([3], [0.0, -0.0, INF])
    case("linear_relu_zero_nan_inf", "linear_relu",
         lambda x, w, b: torch.relu(torch.nn.functional.linear(x, w, b)), [xr, wr, br],
         bias=True, rtol=1e-6)
    case("linear_relu_no_bias_zero_batch", "linear_relu",
         lambda x, w: torch.relu(torch.nn.functional.linear(x, w)),
         [([0, 3], []), ([2, 3], [1.0] * 6)], bias=False)
    many = ([2 ** 24 + 4096, 1], ("fill", 0.0))
    case("linear_bias_grad_past_2_24", "linear", torch.nn.functional.linear,
         [many, ([1, 1], [0.0]), ([1], [0.5])], bias=True,
         grad=([2 ** 24 + 4096, 1], ("fill", 1.0)),
         note="the bias gradient sums 2^24 + 4096 ones: 16781312")


def images():
    """The image ops (NCHW): the maximum's NaN, infinity, tie and signed-zero rules, padding as
    -inf, averages over infinities, a convolution over NaN, inf and 1e20, an empty batch."""
    F = torch.nn.functional
    x = ([1, 1, 4, 4], [NAN, 1.0, 2.0, 2.0,
                        INF, 3.0, 2.0, -0.0,
                        -INF, -INF, 0.0, -0.0,
                        -INF, -INF, -0.0, 0.0])
    g = ([1, 1, 2, 2], [1.0, 2.0, 3.0, 4.0])
    case("max_pool2d_nan_inf_ties_signed_zeros", "max_pool2d", lambda t: F.max_pool2d(t, 2),
         [x], grad=g, kernel=[2, 2], stride=[2, 2], padding=[0, 0],
         note="a NaN wins its window; tied 2s and tied zeros (0.0 before -0.0) send the "
              "gradient to the first; a window of -inf keeps its first element")
    minus_inf = ([1, 1, 3, 3], [-INF] * 9)
    case("max_pool2d_padding_never_wins", "max_pool2d",
         lambda t: F.max_pool2d(t, 3, stride=2, padding=1), [minus_inf],
         kernel=[3, 3], stride=[2, 2], padding=[1, 1],
         note="every input is -inf: the maximum is the window's first input, never the padding")
    a = ([1, 1, 2, 4], [INF, 1.0, 3e38, 3e38, -INF, 3.0, 1.0, 2.0])
    case("avg_pool2d_inf_nan_overflow", "avg_pool2d", lambda t: F.avg_pool2d(t, 2), [a],
         kernel=[2, 2], stride=[2, 2], padding=[0, 0],
         note="inf - inf gives NaN; 3e38 + 3e38 overflows the float32 running sum to inf")
    case("adaptive_avg_pool2d_inf_huge", "adaptive_avg_pool2d",
         lambda t: F.adaptive_avg_pool2d(t, 1),
         [([1, 2, 2, 3], [INF, 1.0, 2.0, 3.0, 4.0, 5.0, HUGE, HUGE, -HUGE, 1.0, 2.0, -0.0])],
         output_size=[1, 1])
    cx = ([1, 1, 3, 4], [1.0, INF, 2.0, -1.0,
                         0.5, 3.0, NAN, 2.0,
                         HUGE, -1.0, 1.0, 0.25])
    cw = ([2, 1, 2, 2], [0.5, -1.0, 2.0, 0.25, 1.5, 0.75, -0.5, 1.0])
    cb = ([2], [0.1, -0.2])
    case("conv2d_nan_inf_huge", "conv2d", lambda x, w, b: F.conv2d(x, w, b), [cx, cw, cb],
         bias=True, rtol=1e-6, atol=0.0,
         note="NaN and inf reach exactly the outputs whose windows hold them (and their "
              "gradients); the summation order of the products differs from PyTorch's")
    case("conv2d_zero_batch", "conv2d", lambda x, w: F.conv2d(x, w),
         [([0, 1, 3, 4], []), cw], bias=False)
    case("flatten_specials", "flatten", lambda t: torch.flatten(t, 1),
         [([2, 3, 2], SPECIALS)], start_dim=1)


def optimizer_cases():
    """p0 and grads with extreme values; p after each step, float32 and float64."""
    cases = []
    p0 = [1.0, -1.0, 0.5, 2.0, HUGE, -TINY, SUB, 0.0]
    grads = [
        [1.0, HUGE, TINY, SUB, 1.0, 1.0, 0.0, -0.0],
        [NAN, 1.0, -TINY, 1e-30, -1.0, HUGE, 1.0, 0.0],
        [1.0, INF, 1e10, 1.0, 0.5, -HUGE, -1.0, 0.0],
    ]
    configs = [
        ("sgd_momentum_wd", dict(optimizer="sgd", lr=0.1, momentum=0.9, weight_decay=0.01, weight_decay_kind="l2")),
        ("sgd_nesterov", dict(optimizer="sgd", lr=0.1, momentum=0.9, nesterov=True)),
        ("adam", dict(optimizer="adam", lr=0.01)),
        ("adamw", dict(optimizer="adamw", lr=0.01, weight_decay=0.01, weight_decay_kind="decoupled")),
        ("adam_amsgrad", dict(optimizer="adam", lr=0.01, amsgrad=True)),
    ]
    for name, hyper in configs:
        out = {}
        for dtype in (F32, F64):
            p = torch.nn.Parameter(torch.tensor(p0, dtype=F32).to(dtype))
            kw = {k: v for k, v in hyper.items() if k not in ("optimizer", "weight_decay_kind")}
            if hyper["optimizer"] == "sgd":
                opt = torch.optim.SGD([p], **kw)
            elif hyper["optimizer"] == "adam":
                opt = torch.optim.Adam([p], **kw)
            else:
                opt = torch.optim.AdamW([p], **kw)
            steps = []
            for g in grads:
                p.grad = torch.tensor(g, dtype=F32).to(dtype)
                opt.step()
                steps.append(p.detach().clone())
            out[dtype] = steps
        cases.append({
            "name": f"{name}_extremes",
            "hyper": hyper,
            "p0": enc_input(([len(p0)], p0)),
            "grads": [enc_input(([len(g)], g)) for g in grads],
            "p_after_each_step": [enc(a, b) for a, b in zip(out[F32], out[F64])],
            "reference": "float64",
            "rtol": 1e-6,
            "atol": 1e-30,
            "note": "tapegrad's optimizers compute each element in f64 and store f32 (no "
                    "overflow of g*g at 1e20, where float32 PyTorch's v becomes inf and the "
                    "step 0): compared with PyTorch's float64 run; NaN and inf positions must match",
        })
    return cases


def layers():
    """The layers' built-in ops: BatchNorm in training (features with NaN, +inf, values near
    1e20 and 1e-20, a constant one) and Dropout at p = 0 (NaN, inf and -0.0 pass through)."""
    cols = [
        [1.0, NAN, 2.0, 3.0],          # a NaN reaches the feature's every output and gradient
        [1.0, INF, 2.0, 3.0],          # so does an infinity (mean inf, var NaN)
        [1e20, 2e20, 3e20, 4e20],      # its variance, 1.25e40, overflows float32
        [1e-20, 2e-20, -1e-20, 0.0],   # a variance far below eps
        [3.0, 3.0, 3.0, 3.0],          # constant (a dead unit): x_hat 0, y = beta
    ]
    x = ([4, 5], [cols[j][i] for i in range(4) for j in range(5)])
    w = ([5], [1.5, 0.5, -1.0, 2.0, 0.75])
    b = ([5], [0.1, -0.2, 0.3, 0.0, -0.5])
    g = ([4, 5], [0.3, -1.2, 0.8, 0.5, -0.7, 1.1, 0.2, -0.4, 0.9, 0.6,
                  -0.8, 0.4, 1.3, -0.2, 0.1, 0.5, -0.9, -0.6, 0.7, -1.0])
    case("batch_norm_train_nan_inf_huge_tiny_constant", "batch_norm_train",
         lambda x, w, b: torch.nn.functional.batch_norm(x, None, None, w, b, training=True, eps=1e-5),
         [x, w, b], grad=g, reference="float64", rtol=1e-4, atol=1e-30, eps=1e-5,
         note="tapegrad takes the statistics in float64 (PyTorch float32 overflows the 1e20 "
              "feature's variance); compared with PyTorch's float64 run")
    case("dropout_p0_passes_nan_inf_and_negative_zero", "dropout_p0",
         lambda x: torch.nn.functional.dropout(x, p=0.0, training=True),
         [([6], [NAN, INF, -INF, -0.0, 0.0, 1.5])])


def build():
    CASES.clear()
    elementwise()
    unary()
    reductions()
    softmax_family()
    products()
    images()
    ops = len(CASES)
    layers()
    return {
        "generated_by": "crates/testutil/golden/edge_cases.py",
        "torch": torch.__version__,
        "encoding": "tensor = {shape, f32: IEEE bit patterns, f64: numbers or 'nan'/'inf'/'-inf'}; "
                    "an input {shape, fill: v} is v repeated; a result {shape, fill_f32, fill_f64} is "
                    "one value repeated",
        "notes": [
            "reference float32: compared with PyTorch's float32 result, bit for bit when rtol = atol = 0 "
            "(any NaN equals any NaN, zeros compared by sign)",
            "reference float64: tapegrad is more exact than float32 PyTorch here (see each note)",
            "grad_out null: the output gradient is ones",
        ],
        "cases": CASES[:ops],
        "layer_cases": CASES[ops:],
        "optimizer_cases": optimizer_cases(),
    }


def write(path=None):
    path = path or os.path.join(os.path.dirname(os.path.abspath(__file__)), "edge_cases.json")
    with open(path, "w") as f:
        # The format of generate.py, which regenerates this file with the others.
        json.dump(build(), f, separators=(",", ":"), allow_nan=False)
    return path


if __name__ == "__main__":
    torch.set_num_threads(1)
    print(write())
