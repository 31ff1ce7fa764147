#!/usr/bin/env bash
# Times Conv2dKernel (forward, backwardData, backwardWeights) on the convolutions of a typical
# course model at batch 128, with 1 and 2 threads, and prints ms and GFLOP/s per call (medians).
#
# It builds a throw-away package in a temporary folder whose `Kernels` target is a link to
# Sources/Kernels, with the same release flags as Package.swift (-Ounchecked -target-cpu native),
# so the main package and its dependencies are not touched.
#   scripts/bench-conv.sh               # the course model's shapes
#   scripts/bench-conv.sh --repeats 60  # more calls per median
# The machine's cores may be shared: repeat runs and compare ratios rather than single numbers.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
work="${BENCH_CONV_DIR:-${TMPDIR:-/tmp}/backprop-bench-conv}"
mkdir -p "$work/Sources/ConvBench"
ln -sfn "$root/Sources/Kernels" "$work/Sources/Kernels"
cp "$root/scripts/bench-conv/main.swift" "$work/Sources/ConvBench/main.swift"
cat > "$work/Package.swift" <<'PKG'
// swift-tools-version:6.1
import PackageDescription
let fast: [SwiftSetting] = [.unsafeFlags(["-Ounchecked", "-target-cpu", "native"])]
let package = Package(
    name: "ConvBench",
    targets: [
        .target(name: "Kernels", swiftSettings: fast),
        .executableTarget(name: "ConvBench", dependencies: ["Kernels"], swiftSettings: fast),
    ],
    swiftLanguageModes: [.v5]
)
PKG
swift build -c release --package-path "$work" --product ConvBench >&2
"$work/.build/release/ConvBench" "$@"
