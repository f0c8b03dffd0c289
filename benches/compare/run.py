#!/usr/bin/env python3
"""Side-by-side benchmark: tapegrad vs PyTorch on the same CPU, in one invocation.

    python3 benches/compare/run.py                         # every workload, 3 rounds
    python3 benches/compare/run.py mlp_epoch_b128 'bn_fwd_bwd_*' --rounds 5
    python3 benches/compare/run.py --only torch            # PyTorch side alone
    python3 benches/compare/run.py --interleave mlp_epoch_b128 mlp_bn_epoch_b128 --rounds 8
                                                           # BatchNorm's cost, pairs seconds apart

Each workload runs as a fresh process per framework, alternating tapegrad, PyTorch, tapegrad,
PyTorch... for --rounds rounds; the table reports per-framework medians and their ratio, and
the range of the ratios within single rounds. Only
ratios from the same run mean anything: the machine may be shared, and alternating spreads the
noise over both sides. Standard library only, so it runs with the system python3.
"""
import argparse
import fnmatch
import json
import os
import platform
import re
import shlex
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
VENV = HERE / ".venv"
TORCH_SCRIPT = HERE / "torch_workloads.py"

DEFAULT_RUST_CMD = "cargo bench -q --bench workloads --"
DEFAULT_RUST_BUILD = "cargo bench --no-run --bench workloads"
PRESSURE_WARN = 10.0  # % PSI; above this another job was stealing the 2 cores

# Upper bounds the table checks tapegrad/PyTorch against (lower is better).
TARGETS = [
    (r"mlp(_bn)?_epoch_b32", 0.6),
    (r"mlp(_bn)?_epoch_b128", 0.8),
    (r"mlp(_bn)?_epoch_b512", 1.0),
    (r"sigmoid3x100(_bn)?_b60_1000steps", 0.4),
    # BatchNorm alone: the plain op a reader meets first may give up the last 30% of this
    # microbenchmark; the epoch (bn_cost below) is where its cost shows.
    (r"bn_fwd_bwd_\d+x\d+", 0.8),
    # The MNIST example net's two convolutions at batch 64, forward and backward.
    (r"conv2d_fwd_bwd_c\d+_\d+", 0.8),
    # One epoch of that net with PyTorch's MNIST example settings (the arithmetic alone
    # allows about 0.4).
    (r"cnn(_bn)?_epoch", 0.8),
]


# BatchNorm's cost inside training: epoch with BN / without, at this batch, and its upper bound.
BN_COST_TARGET = (128, 1.05)
# The same for the MNIST example CNN: cnn_bn_cost_b64, and cnn_bn_epoch / cnn_epoch.
CNN_BN_COST_TARGET = 1.10
# The fused BatchNorm against tapegrad's own composed one (bn_fusion_{N}x{C}, at the shapes of
# bn_fwd_bwd_*; only tapegrad runs it): at least this many times faster from 128x512 up (at
# 60x100 both are a few microseconds of per-op overhead).
FUSION = r"bn_fusion_(?!60x100)\d+x\d+"
FUSION_TARGET = 4.0
# Workloads whose figure is already a ratio within one framework, so that the bound applies to
# tapegrad's own figure, not tapegrad/PyTorch: bn_cost_b128 (epoch time with BatchNorm over
# without, the two models trained in turns; at most), bn_fusion_* (composed time over fused;
# at least).
OWN_TARGETS = [(rf"bn_cost_b{BN_COST_TARGET[0]}", BN_COST_TARGET[1]),
               (r"cnn_bn_cost_b64", CNN_BN_COST_TARGET), (FUSION, FUSION_TARGET)]
# Workloads whose bound is a lower bound (the others are upper bounds).
AT_LEAST = [FUSION]


def target(workload):
    return next((t for pattern, t in TARGETS + OWN_TARGETS if re.fullmatch(pattern, workload)), None)


def own_target(workload):
    """Whether the workload's bound applies to tapegrad's figure itself (see OWN_TARGETS)."""
    return any(re.fullmatch(pattern, workload) for pattern, _ in OWN_TARGETS)


def rust_only(workload):
    """Whether only tapegrad runs the workload (`workloads --list` has it, torch_workloads.py
    does not)."""
    return re.fullmatch(FUSION, workload) is not None


def at_least(workload):
    """Whether the workload's bound is a lower bound (see AT_LEAST)."""
    return any(re.fullmatch(pattern, workload) for pattern in AT_LEAST)


def metric(workload):
    """The JSON field a workload reports (both frameworks use the same one)."""
    if workload.startswith(("bn_fwd_bwd_", "conv2d_fwd_bwd_")):
        return "us_per_iter"
    if workload.startswith("peak_rss_"):
        return "peak_rss_bytes"
    if "bn_cost_" in workload:
        return "bn_cost"
    if workload.startswith("bn_fusion_"):
        return "fusion_speedup"
    return "seconds"


def fmt(value, key):
    if value is None:
        return "—"
    if key == "us_per_iter":
        return f"{value:.1f} µs"
    if key == "peak_rss_bytes":
        return f"{value / 2**20:.1f} MiB"
    if key == "bn_cost":
        return f"{value:.3f}x"
    if key == "fusion_speedup":
        return f"{value:.2f}x"
    return f"{value:.3f} s"


# ---------------------------------------------------------------- environment

def ensure_venv(index_url):
    """Creates .venv with torch + numpy unless it already imports them; returns its python."""
    python = VENV / "bin" / "python"
    if python.exists() and subprocess.run([python, "-c", "import torch, numpy"],
                                          capture_output=True).returncode == 0:
        return python
    print(f"PyTorch not found: installing torch + numpy into {VENV} (one time).", file=sys.stderr)
    if not index_url:
        print("  note: the default Linux torch wheel pulls ~5 GB of CUDA libraries; pass\n"
              "  --torch-index-url https://download.pytorch.org/whl/cpu for the CPU-only build.",
              file=sys.stderr)
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", VENV], check=True)
    pip = [python, "-m", "pip", "install", "torch", "numpy"]
    if index_url:
        # numpy is not on the PyTorch index, so keep PyPI as the fallback.
        pip += ["--index-url", index_url, "--extra-index-url", "https://pypi.org/simple"]
    subprocess.run(pip, check=True)
    return python


def mnist_dir(explicit):
    """Same order as the Rust side: --data, $MNIST_DIR (empty = unset), datasets/mnist."""
    if explicit:
        return Path(explicit).resolve()
    if os.environ.get("MNIST_DIR"):
        return Path(os.environ["MNIST_DIR"]).resolve()
    return REPO / "datasets" / "mnist"


def cpu_model():
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def cpu_pressure():
    """PSI 'some avg10': % of the last 10 s in which a runnable task waited for a CPU."""
    try:
        return float(Path("/proc/pressure/cpu").read_text().split()[1].split("=")[1])
    except (OSError, IndexError, ValueError):
        return None


def machine_info():
    return {
        "nproc": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "cpu_model": cpu_model(),
        "platform": platform.platform(),
        "loadavg_start": os.getloadavg(),
    }


# ---------------------------------------------------------------- running

def run_one(cmd, timeout):
    """Runs one workload process; returns its JSON line (last one on stdout) or an error."""
    # CPU pressure after the run says whether other jobs competed with this one.
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout} s"}
    except OSError as e:
        return {"error": str(e)}
    extra = {"process_wall_seconds": time.perf_counter() - t0, "cpu_pressure_avg10": cpu_pressure()}
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith("{"):
            try:
                return {**json.loads(line), **extra}
            except json.JSONDecodeError:
                break
    tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
    return {"error": f"exit {proc.returncode}, no JSON line: {tail}", **extra}


def summarize(workload, runs):
    key = metric(workload)
    medians = {}
    for fw in ("tapegrad", "pytorch"):
        values = [r[key] for r in runs if r.get("framework") == fw and key in r]
        medians[fw] = statistics.median(values) if values else None
    ours, torch = medians["tapegrad"], medians["pytorch"]
    own = own_target(workload)
    ratio = ours / torch if ours is not None and torch and not own else None
    tgt = target(workload)
    judged = ours if own else ratio
    met = None if judged is None or tgt is None else (judged >= tgt if at_least(workload) else judged <= tgt)
    errors = sorted({r["framework"] for r in runs if "error" in r})
    return {"workload": workload, "metric": key, "tapegrad_median": ours, "pytorch_median": torch,
            "ratio": ratio, "round_ratios": [] if own else round_ratios(runs, workload, key), "target": tgt,
            "own_target": own, "met": met, "failed": errors}


def round_ratios(runs, workload, key):
    """tapegrad / PyTorch within each round that both sides completed: the two ran seconds
    apart, so a slow spell of a shared host that lasts minutes moves both; the spread of
    these shows how far to trust the ratio of medians."""
    return paired_ratios(per_round(runs, workload, "tapegrad", key),
                         per_round(runs, workload, "pytorch", key))


def per_round(runs, workload, framework, key):
    """`{round: value}` of one workload and framework."""
    return {r["round"]: r[key] for r in runs
            if r["workload"] == workload and r.get("framework") == framework and r.get(key)}


def paired_ratios(numerators, denominators):
    """`numerators[r] / denominators[r]` for every round `r` in both, in round order."""
    return [numerators[r] / denominators[r] for r in sorted(denominators) if r in numerators]


def table(summary):
    rows = ["| workload | tapegrad (median) | PyTorch (median) | ratio ours/torch | rounds' ratios "
            "| bound | within? |",
            "|---|---:|---:|---:|---:|---:|:---:|"]
    for s in summary:
        ratio = "—" if s["ratio"] is None else f"{s['ratio']:.2f}"
        per_round = s.get("round_ratios") or []
        spread = f"{min(per_round):.2f}-{max(per_round):.2f}" if per_round else "—"
        bound = "≥" if at_least(s["workload"]) else "≤"
        tgt = "—" if s["target"] is None else f"{bound} {s['target']}" + (" (ours)" if s.get("own_target") else "")
        met = {None: "—", True: "yes", False: "**no**"}[s["met"]]
        cells = [fmt(s[f"{fw}_median"], s["metric"]) + (" (failed runs)" if fw in s["failed"] else "")
                 for fw in ("tapegrad", "pytorch")]
        rows.append(f"| {s['workload']} | {cells[0]} | {cells[1]} | {ratio} | {spread} | {tgt} | {met} |")
    return "\n".join(rows)


def bn_cost(summary, runs):
    """Lines giving epoch time with BatchNorm / without, per batch size and framework, for
    every batch size whose two MLP workloads both ran, and for the CNN: the ratio of the
    medians, then the median and range of the ratios within single rounds (with
    --interleave, the two epochs of a round ran seconds apart rather than minutes)."""
    by_workload = {s["workload"]: s for s in summary}
    lines = []
    for name, s in by_workload.items():
        m = re.fullmatch(r"mlp_epoch_b(\d+)|cnn_epoch", name)
        bn_name = name.replace("_epoch", "_bn_epoch")
        with_bn = by_workload.get(bn_name) if m else None
        if not with_bn:
            continue
        batch = int(m.group(1)) if m.group(1) else 64
        ratios = []
        for fw, label in (("tapegrad", "tapegrad"), ("pytorch", "PyTorch")):
            a, b = s[f"{fw}_median"], with_bn[f"{fw}_median"]
            if not (a and b):
                ratios.append(f"{label} —")
                continue
            pairs = paired_ratios(per_round(runs, with_bn["workload"], fw, "seconds"),
                                  per_round(runs, name, fw, "seconds"))
            rounds = (f" (rounds: median {statistics.median(pairs):.2f}, {min(pairs):.2f}-{max(pairs):.2f})"
                      if pairs else "")
            ratios.append(f"{label} {b / a:.2f}{rounds}")
        bound = (BN_COST_TARGET[1] if name == f"mlp_epoch_b{BN_COST_TARGET[0]}" else
                 CNN_BN_COST_TARGET if name == "cnn_epoch" else None)
        tgt = f" (bound for tapegrad: ≤ {bound})" if bound else ""
        net = "the CNN's" if name == "cnn_epoch" else "the MLP's"
        lines.append(f"BatchNorm's cost, {net} epoch with BN / without at batch {batch}: "
                     f"{', '.join(ratios)}{tgt}")
    return lines


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("workloads", nargs="*", help="names or globs (default: all; see torch_workloads.py --list)")
    p.add_argument("--rounds", type=int, default=3, help="alternating rounds per workload (default 3)")
    p.add_argument("--interleave", action="store_true",
                   help="round by round: every selected workload once, then the next round (default: "
                        "all rounds of a workload, then the next); puts the two MLP epochs of a "
                        "BatchNorm-cost pair seconds apart")
    p.add_argument("--only", choices=["torch", "rust"], help="run one side only")
    p.add_argument("--data", help="MNIST directory (default: $MNIST_DIR, then datasets/mnist)")
    p.add_argument("--rust-cmd", default=DEFAULT_RUST_CMD,
                   help=f"Rust command; WORKLOAD --data DIR are appended (default: {DEFAULT_RUST_CMD!r})")
    p.add_argument("--rust-build-cmd", default=DEFAULT_RUST_BUILD,
                   help=f"run once before timing; '' to skip (default: {DEFAULT_RUST_BUILD!r})")
    p.add_argument("--python", help="interpreter with torch (default: .venv next to this script, created if missing)")
    p.add_argument("--torch-index-url", help="pip index for installing torch, e.g. https://download.pytorch.org/whl/cpu")
    p.add_argument("--timeout", type=float, default=1800, help="seconds per process (default 1800)")
    p.add_argument("--out", default=str(HERE / "results.json"), help="raw results JSON (default: %(default)s)")
    args = p.parse_args()
    if args.rounds < 1:
        p.error("--rounds must be >= 1")

    sides = [s for s in ("rust", "torch") if args.only in (None, s)]
    python = Path(args.python) if args.python else ensure_venv(args.torch_index_url)
    # The PyTorch script's list is the source of the compared workloads' names; bn_fusion_*
    # follows its BatchNorm shapes.
    compared = subprocess.run([python, TORCH_SCRIPT, "--list"], capture_output=True, text=True,
                              check=True).stdout.split()
    known = compared + [w.replace("bn_fwd_bwd_", "bn_fusion_", 1) for w in compared
                        if w.startswith("bn_fwd_bwd_")]
    patterns = args.workloads or ["*"]
    selected = [w for w in known if any(fnmatch.fnmatchcase(w, pat) for pat in patterns)]
    unmatched = [pat for pat in patterns if not any(fnmatch.fnmatchcase(w, pat) for w in known)]
    if unmatched or not selected:
        p.error(f"no workload matches {unmatched or patterns}; known: {' '.join(known)}")

    data = mnist_dir(args.data)
    if not (data / "train-images-idx3-ubyte.gz").exists() and any(metric(w) not in ("us_per_iter", "fusion_speedup") for w in selected):
        print(f"warning: no MNIST at {data} (use --data DIR or MNIST_DIR)", file=sys.stderr)

    machine = machine_info()
    if "rust" in sides and args.rust_build_cmd:
        print(f"$ {args.rust_build_cmd}", file=sys.stderr)
        if subprocess.run(shlex.split(args.rust_build_cmd), cwd=REPO).returncode != 0:
            sys.exit("Rust build failed (use --only torch to run the PyTorch side alone)")
        rustc = subprocess.run(["rustc", "--version"], capture_output=True, text=True)
        machine["rustc"] = rustc.stdout.strip()

    commands = {
        "rust": lambda w: shlex.split(args.rust_cmd) + [w, "--data", str(data)],
        "torch": lambda w: [str(python), str(TORCH_SCRIPT), w, "--data", str(data)],
    }
    rounds = range(1, args.rounds + 1)
    order = ([(r, w) for r in rounds for w in selected] if args.interleave
             else [(r, w) for w in selected for r in rounds])
    runs = []
    for r, w in order:
        for side in [s for s in sides if s == "rust" or not rust_only(w)]:  # rust, torch, ...
            res = run_one(commands[side](w), args.timeout)
            res.setdefault("framework", "tapegrad" if side == "rust" else "pytorch")
            res.update({"workload": w, "round": r})
            shown = res.get("error") or fmt(res.get(metric(w)), metric(w))
            print(f"[{w} {r}/{args.rounds}] {res['framework']:8} {shown}"
                  f"  (cpu pressure {res['cpu_pressure_avg10']}%)", file=sys.stderr, flush=True)
            runs.append(res)
    summary = [summarize(w, [res for res in runs if res["workload"] == w]) for w in selected]

    machine["loadavg_end"] = os.getloadavg()
    torch_runs = [r for r in runs if r.get("framework") == "pytorch" and "torch_version" in r]
    if torch_runs:
        machine["torch_version"] = torch_runs[0]["torch_version"]
        machine["torch_threads"] = torch_runs[0]["threads"]

    print(f"\nMachine: {machine['nproc']} CPUs, {machine['cpu_model']}; "
          f"torch {machine.get('torch_version', '?')} ({machine.get('torch_threads', '?')} threads)"
          + (f"; {machine['rustc']}" if "rustc" in machine else "")
          + f"; load average {machine['loadavg_start'][0]:.2f} -> {machine['loadavg_end'][0]:.2f}")
    print(f"Rounds: {args.rounds}, alternating {' / '.join(sides)}"
          + (", round by round (--interleave)" if args.interleave else "") + "; medians per framework.\n")
    print(table(summary))
    cost = bn_cost(summary, runs)
    if cost:
        print("\n" + "\n".join(cost))
    rss = [r for r in torch_runs if "baseline_rss_bytes" in r]
    if rss:
        print(f"\nPyTorch RSS right after `import torch`: {fmt(rss[0]['baseline_rss_bytes'], 'peak_rss_bytes')}"
              " (included in its peak).")

    out = {"machine": machine, "rounds": args.rounds, "interleave": args.interleave, "sides": sides,
           "data": str(data),
           "rust_cmd": args.rust_cmd, "summary": summary, "runs": runs}
    Path(args.out).write_text(json.dumps(out, indent=2) + "\n")
    print(f"\nRaw results: {args.out}")
    contended = [r for r in runs if (r.get("cpu_pressure_avg10") or 0) > PRESSURE_WARN]
    if contended:
        print(f"\nWarning: {len(contended)}/{len(runs)} runs saw CPU pressure > {PRESSURE_WARN}% "
              "(other jobs competing for the cores); re-run those workloads on a quieter machine.")
    failed = [r for r in runs if "error" in r]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
