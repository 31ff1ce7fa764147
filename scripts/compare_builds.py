"""Times two backprop binaries against each other in alternating pairs (see scripts/compare-builds).

Each pair runs `backprop bench --model M --repeats R` (the whole training step's milliseconds, or
with --evaluation an evaluation batch's) or, with --epoch, `backprop bench --epoch --model M` (a real epoch's seconds) once with each binary,
the order swapped from one pair to the next; the ratio within a pair (change / base) cancels the
machine's slow drifts. Prints every pair, then each binary's median, and the pairs' median ratio
with the spread of the ratios."""

import argparse
import json
import re
import statistics
import subprocess
import sys


def measure(binary, args):
    """One timing: the whole training step's ms (an evaluation batch's with --evaluation), or with
    --epoch the epoch's seconds."""
    command = [binary, "bench", "--model", args.model]
    command += ["--epoch"] if args.epoch else ["--repeats", str(args.repeats)]
    if args.threads:
        command += ["--threads", str(args.threads)]
    run = subprocess.run(command, capture_output=True, text=True)
    if run.returncode != 0:
        said = (run.stderr.strip().splitlines() or ["(nothing on stderr)"])[-1]
        sys.exit(f"{' '.join(command)}: exit {run.returncode}: {said}")
    output = run.stdout
    if args.epoch:
        return json.loads(output.strip().splitlines()[-1])["epoch_seconds"]
    pattern = r"evaluation: ([0-9.]+) ms per batch" if args.evaluation else r"whole training step: ([0-9.]+) ms"
    found = re.search(pattern, output)
    if not found:
        sys.exit(f"{binary} bench: no \"{pattern}\" in its output")
    return float(found.group(1))


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--base", required=True, help="the binary to compare against")
    parser.add_argument("--base-name", default="base")
    parser.add_argument("--change", required=True, help="the binary with the change")
    parser.add_argument("--model", default="s6")
    parser.add_argument("--pairs", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=40, help="calls per median of a bench run")
    parser.add_argument("--epoch", action="store_true", help="time real MNIST epochs instead of steps")
    parser.add_argument("--evaluation", action="store_true",
                        help="time an evaluation batch (forward only, folded BatchNorm) instead of a training step")
    parser.add_argument("--threads", type=int, help="threads per run (bench's default: every core)")
    args = parser.parse_args()
    if not 2 <= args.pairs <= 1000:
        sys.exit(f"--pairs: expected 2 to 1000, got {args.pairs}")
    if args.threads is not None and not 1 <= args.threads <= 256:
        sys.exit(f"--threads: expected 1 to 256, got {args.threads}")
    if args.epoch and args.evaluation:
        sys.exit("--epoch and --evaluation: choose one")
    unit = "s per epoch" if args.epoch else "ms per evaluation batch" if args.evaluation else "ms per training step"
    threads = f", {args.threads} thread(s)" if args.threads else ""
    print(f"{args.model}: {unit}{threads}, working tree against {args.base_name}, {args.pairs} alternating pairs", flush=True)
    base, change = [], []
    for pair in range(args.pairs):
        order = [("base", args.base), ("change", args.change)]
        if pair % 2:
            order.reverse()
        timing = {name: measure(binary, args) for name, binary in order}
        base.append(timing["base"])
        change.append(timing["change"])
        print(f"  pair {pair + 1:>3}: {args.base_name} {timing['base']:.3f}, working tree {timing['change']:.3f}, "
              f"ratio {timing['change'] / timing['base']:.3f}", flush=True)
    ratios = [c / b for b, c in zip(base, change)]
    spread = statistics.stdev(ratios)
    print(f"median {args.base_name} {statistics.median(base):.3f}, working tree {statistics.median(change):.3f} ({unit})")
    print(f"ratio working tree / {args.base_name}: median {statistics.median(ratios):.3f}, "
          f"standard deviation {spread:.3f} (of the mean: {spread / len(ratios) ** 0.5:.3f})")


if __name__ == "__main__":
    main()
