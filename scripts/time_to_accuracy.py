#!/usr/bin/env python3
"""How long a learner waits for 99.4%: trains one model with its own recipe in backprop
(`backprop train --model M --seed K`) and in its PyTorch twin (`torch_twin.py train M --seed K`:
the same recipe, augmentation included), each evaluating the full test set after every epoch,
and times, from the moment each process is started, the wall-clock seconds until each epoch's
test accuracy is printed. Prints, per seed and engine, the seconds and epoch at which the test
accuracy first reached the target, draws accuracy against seconds for both engines (`backprop
chart`), and with --update writes the table into a page between its <!-- time-to-accuracy:begin -->
and <!-- time-to-accuracy:end --> lines. See scripts/time-to-accuracy."""
import argparse
import datetime
import json
import os
import statistics
import subprocess
import sys
import time

from replace_section import replace_section

ACCURACY = "Accuracy: "


def timed_lines(command, parse, log):
    """Runs `command`, yielding (seconds since its start, parsed value) for each line `parse` accepts;
    its standard error goes to the file `log`, whose last line is shown if it fails."""
    start = time.perf_counter()
    with open(log, "w") as errors:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=errors, text=True, bufsize=1)
        killed = False
        try:
            for line in process.stdout:
                value = parse(line)
                if value is not None:
                    yield time.perf_counter() - start, value
        finally:
            if process.poll() is None:
                process.kill()
                killed = True
            process.wait()
    if process.returncode != 0 and not killed:
        lines = open(log).read().strip().splitlines()
        print(f"  {command[0]} failed ({process.returncode}): {lines[-1] if lines else 'no message'} (see {log})",
              file=sys.stderr, flush=True)


def backprop_accuracy(line):
    """`Test set: Average loss: 0.0189, Accuracy: 9941/10000 (99.41%)  [9.2 s]` → 99.41"""
    if not line.startswith("Test set:") or ACCURACY not in line:
        return None
    correct, total = line.split(ACCURACY, 1)[1].split(" ", 1)[0].split("/")
    return 100 * int(correct) / int(total)


def torch_accuracy(line):
    try:
        return json.loads(line)["test_acc"]
    except (ValueError, KeyError):
        return None


def run(engine, command, parse, target, full, log):
    """Every epoch's (seconds, accuracy) until the target is first reached (or all, with full)."""
    points = []
    for seconds, accuracy in timed_lines(command, parse, log):
        points.append((seconds, accuracy))
        print(f"  {engine}: epoch {len(points)} at {seconds:.1f} s: {accuracy:.2f}%", file=sys.stderr, flush=True)
        if accuracy >= target and not full:
            break
    return points


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default="s6")
    parser.add_argument("--recipe", default="default", help="another of the model's recipes (backprop train --recipe)")
    parser.add_argument("--seeds", default="1,2,3", help="comma-separated")
    parser.add_argument("--target", type=float, default=99.4)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--engines", default="backprop,pytorch", help="comma-separated: backprop, pytorch")
    parser.add_argument("--full", action="store_true", help="train every epoch of the recipe, not just until the target")
    parser.add_argument("--chart", default=None, help="write the chart as CHART.svg and CHART.png")
    parser.add_argument("--update", default=None, help="a Markdown page to write the table into (docs/speed.md)")
    parser.add_argument("--backprop", default=".build/release/backprop")
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    name = args.model + ("" if args.recipe == "default" else "-" + args.recipe)
    engines = args.engines.split(",")
    runs = {}   # (engine, seed) → [(seconds, accuracy)]
    for seed in seeds:
        for engine in engines:
            if engine == "backprop":
                command = [args.backprop, "train", "--model", args.model, "--recipe", args.recipe, "--seed", str(seed),
                           "--threads", str(args.threads), "--out", f"runs/time-to-accuracy/{name}-seed{seed}", "--force"]
                parse = backprop_accuracy
            elif engine == "pytorch":
                command = [sys.executable, "scripts/torch_twin.py", "train", args.model, "--recipe", args.recipe, "--seed", str(seed),
                           "--threads", str(args.threads), "--backprop", args.backprop]
                if not args.full:
                    command += ["--stop-at", str(args.target)]
                parse = torch_accuracy
            else:
                sys.exit(f"time-to-accuracy: --engines: unknown engine {engine!r}; expected backprop or pytorch")
            print(f"{engine}, seed {seed}:", file=sys.stderr, flush=True)
            os.makedirs("runs/time-to-accuracy", exist_ok=True)
            runs[(engine, seed)] = run(engine, command, parse, args.target, args.full,
                                       f"runs/time-to-accuracy/{name}-{engine}-seed{seed}.stderr")

    lines = []
    emit = lines.append
    emit(f"{args.model}, " + ("its own recipe" if args.recipe == "default" else f"recipe {args.recipe}") + f", {args.threads} threads; wall-clock seconds from starting the process until the "
         f"test accuracy printed after an epoch first reached {args.target}%; {datetime.date.today()}")
    emit("")
    emit("| seed | " + " | ".join(f"{e}: seconds (epoch)" for e in engines) + " |")
    emit("|---|" + "---:|" * len(engines))
    reached = {e: [] for e in engines}
    for seed in seeds:
        cells = []
        for engine in engines:
            points = runs[(engine, seed)]
            first = next((i for i, (_, a) in enumerate(points) if a >= args.target), None)
            if first is None:
                cells.append(f"not reached in {len(points)} epochs ({points[-1][0]:.1f} s)" if points else "no epoch finished")
            else:
                reached[engine].append(points[first][0])
                cells.append(f"{points[first][0]:.1f} ({first + 1})")
        emit(f"| {seed} | " + " | ".join(cells) + " |")
    emit("| median | " + " | ".join(f"{statistics.median(reached[e]):.1f}" if len(reached[e]) == len(seeds) else "–"
                                      for e in engines) + " |")
    report = "\n".join(lines) + "\n"
    sys.stdout.write(report)

    if args.chart:
        series = []
        for (engine, seed), points in runs.items():
            series.append({"name": f"{engine}, seed {seed}", "points": [list(p) for p in points],
                           "color": seeds.index(seed) % 10, "dashed": engine == "pytorch"})
        low = min([a for points in runs.values() for _, a in points] + [args.target])
        chart = {"title": f"{name}: test accuracy against wall-clock time (dashed: PyTorch)",
                 "x_label": "seconds since the process started", "y_label": "test accuracy (%)",
                 "y_range": [max(97.0, min(99.0, float(int(low)))), 100.0],
                 "reference_lines": [{"y": args.target, "label": f"{args.target}%"}], "series": series}
        os.makedirs("runs/time-to-accuracy", exist_ok=True)
        spec = f"runs/time-to-accuracy/{name}-chart.json"
        with open(spec, "w") as f:
            json.dump(chart, f)
        subprocess.run([args.backprop, "chart", spec, "--out", args.chart], check=True)
    if args.update:
        replace_section(args.update, "time-to-accuracy" + ("" if args.recipe == "default" else "-" + args.recipe), report)


if __name__ == "__main__":
    main()
