#!/usr/bin/env python3
"""Runs `backprop bench --epoch` and `torch_twin.py time-epoch --json` in turn (see bench-vs-torch),
each in its own process so that peak memory is each engine's own, and prints a Markdown table of
medians; with --update PAGE, also writes it into PAGE between its <!-- bench-vs-torch:begin --> and
<!-- bench-vs-torch:end --> lines. The twin is built from the architecture backprop exports; the
parameter counts must agree (the logits and gradients themselves are compared by the test suite,
TorchAgreementTests).

With --notebook-models, the models are the PyTorch classes of Tests/Fixtures/notebook-models,
each imported with `backprop import` (a learner's own networks, in the styles notebooks use), and
--update writes the table between the page's notebook-models lines instead."""
import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile

from replace_section import replace_section

BACKPROP = ".build/release/backprop"
NOTEBOOK_MODELS = ["sequential_blocks", "functional_forward", "linear_after_gap", "strided", "dilated"]


def run(command):
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"bench-vs-torch: {' '.join(command)} failed: {result.stderr.strip().splitlines()[-1:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def machine():
    """The CPU's name with its widest vector unit (the engine's kernels differ between AVX-512 and
    AVX2: Sources/Kernels/MicroKernel.swift), the core count and the reported clock."""
    model, mhz, vectors = "unknown CPU", None, None
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name") and model == "unknown CPU":
            model = line.split(":", 1)[1].strip()
        if line.startswith("cpu MHz") and mhz is None:
            mhz = float(line.split(":", 1)[1])
        if line.startswith("flags") and vectors is None:
            flags = line.split(":", 1)[1].split()
            vectors = "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else None
    return (f"{model} ({vectors})" if vectors else model), os.cpu_count(), mhz


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--models", default=None, help="comma-separated (default: every shipped model)")
    parser.add_argument("--rounds", type=int, default=5, help="runs of each engine per model (alternating)")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--update", default=None, help="a Markdown page to write the table into (docs/speed.md)")
    parser.add_argument("--backprop", default=BACKPROP, help="the backprop executable to time (another build, to compare)")
    parser.add_argument("--notebook-models", action="store_true",
                        help="time the PyTorch classes of Tests/Fixtures/notebook-models, imported by backprop import")
    args = parser.parse_args()
    names = args.models.split(",") if args.models else \
        [line.split()[0] for line in subprocess.run([args.backprop, "summary", "--list"], capture_output=True, text=True).stdout.splitlines() if line.strip()]
    default = "s6"
    files = {}   # a row's name → the model file it times
    if args.notebook_models:
        folder = tempfile.mkdtemp(prefix="bench-notebook-models-")
        for name in NOTEBOOK_MODELS:
            files[name] = f"{folder}/{name}.json"
            subprocess.run([args.backprop, "import", f"Tests/Fixtures/notebook-models/{name}.py:Net", "--out", files[name]],
                           check=True, capture_output=True, env=dict(os.environ, BACKPROP_PYTHON=sys.executable))
        names, default = NOTEBOOK_MODELS, NOTEBOOK_MODELS[0]

    cpu, cores, mhz = machine()
    print(f"# backprop vs PyTorch, {datetime.date.today()}: {cpu}, {cores} cores"
          + (f", {mhz / 1000:.2f} GHz reported" if mhz else ""), file=sys.stderr)
    peaks = []   # measured by `backprop bench --epoch` at the end of each of its runs

    rows = {}
    for name in names:
        results = {"backprop": [], "pytorch": []}
        model = files.get(name, name)
        swift = [args.backprop, "bench", "--epoch", "--model", model, "--batch-size", str(args.batch_size), "--threads", str(args.threads)]
        torch = [sys.executable, "scripts/torch_twin.py", "time-epoch", model, "--json",
                 "--batch-size", str(args.batch_size), "--threads", str(args.threads)]
        for round_ in range(args.rounds):
            order = [("backprop", swift), ("pytorch", torch)]
            if round_ % 2:
                order.reverse()
            for engine, command in order:
                result = run(command)
                results[engine].append(result)
                if "peak_gflops" in result:
                    peaks.append(result["peak_gflops"])
                print(f"  {name} round {round_ + 1} {engine}: epoch {result['epoch_seconds']:.2f} s, "
                      f"eval {result['eval_seconds']:.3f} s, peak RSS {result['peak_rss_mb']:.0f} MB", file=sys.stderr)
        b, t = results["backprop"], results["pytorch"]
        if b[0]["parameters"] != t[0]["parameters"]:
            sys.exit(f"bench-vs-torch: {name}: backprop has {b[0]['parameters']} parameters, the twin {t[0]['parameters']}")
        median = lambda rs, key: statistics.median(r[key] for r in rs)
        flops = 3 * 2 * b[0]["multiply_adds_per_image"] * 60000
        spread = lambda rs: (max(r["eval_seconds"] for r in rs) - min(r["eval_seconds"] for r in rs)) / median(rs, "eval_seconds")
        rows[name] = {
            "parameters": b[0]["parameters"],
            # Each round's epoch ratio (the two engines of one round ran back to back), and how far
            # the evaluation medians of the rounds lie apart, relative to their median.
            "round_ratios": [x["epoch_seconds"] / y["epoch_seconds"] for x, y in zip(b, t)],
            "eval_spread": (spread(b), spread(t)),
            "epoch": (median(b, "epoch_seconds"), median(t, "epoch_seconds")),
            "eval": (median(b, "eval_seconds"), median(t, "eval_seconds")),
            "rss": (median(b, "peak_rss_mb"), median(t, "peak_rss_mb")),
            "gflops": (flops / median(b, "epoch_seconds") / 1e9, flops / median(t, "epoch_seconds") / 1e9),
        }

    peak = statistics.median(peaks) if peaks else None
    lines = []
    emit = lines.append   # the report, kept to print and to write into the page
    emit(f"backprop vs PyTorch {results['pytorch'][0].get('version', '')} CPU, {args.threads} threads, batch {args.batch_size}, "
          f"medians of {args.rounds} alternating runs; {datetime.date.today()}, {cpu}, {cores} cores"
          + (f", measured peak {peak:.0f} GFLOP/s" if peak else ""))
    emit("")
    emit("| model | params | s/epoch backprop | s/epoch PyTorch | ratio | images/s backprop | images/s PyTorch "
          "| eval s backprop | eval s PyTorch | ratio | peak RSS MB backprop | PyTorch | ratio | GFLOP/s backprop | PyTorch |")
    emit("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, r in rows.items():
        (be, te), (bv, tv), (br, tr), (bg, tg) = r["epoch"], r["eval"], r["rss"], r["gflops"]
        emit(f"| {name} | {r['parameters']:,} | {be:.2f} | {te:.2f} | {be / te:.2f} | {60000 / be:,.0f} | {60000 / te:,.0f} "
              f"| {bv:.3f} | {tv:.3f} | {bv / tv:.2f} | {br:.0f} | {tr:.0f} | {br / tr:.2f} | {bg:.0f} | {tg:.0f} |")
    emit("")
    if peak:
        emit(f"GFLOP/s: 6 × multiply-adds per image × 60,000 / epoch seconds (forward, and backward counted twice); "
              f"the machine's measured peak (fused multiply-adds on registers, {args.threads} threads, median over the runs) "
              f"is {peak:.0f}.")
    key = default if default in rows else next(iter(rows))
    r = rows[key]
    emit(f"{key}: epoch ratio of each round {', '.join(f'{x:.3f}' for x in r['round_ratios'])}; evaluation "
         f"(median of {len(results['backprop'][0]['eval_passes'])} passes per round) spread between rounds: "
         f"backprop {100 * r['eval_spread'][0]:.1f}%, PyTorch {100 * r['eval_spread'][1]:.1f}%")
    emit(f"epoch_time_ratio={r['epoch'][0] / r['epoch'][1]:.3f} eval_ratio={r['eval'][0] / r['eval'][1]:.3f} "
          f"rss_ratio={r['rss'][0] / r['rss'][1]:.3f}")
    report = "\n".join(lines) + "\n"
    sys.stdout.write(report)
    if args.update:
        replace_section(args.update, "notebook-models" if args.notebook_models else "bench-vs-torch",
                        report.replace("epoch_time_ratio=", "\n```\nepoch_time_ratio=") + "```\n")


if __name__ == "__main__":
    main()
