// swift-tools-version:6.1
import PackageDescription

// The kernels are only fast when the compiler may use this CPU's vector units (AVX-512 here) and
// drop bounds checks: measured here, a plain `-c release` build is 4–5× slower
// (../shared/notes/cpu-kernels.md). So every release build of the engine gets these flags; debug
// builds stay checked. `unsafeFlags` are fine for a root package such as this tool.
let fast: [SwiftSetting] = [
    .unsafeFlags(["-Ounchecked", "-target-cpu", "native"], .when(configuration: .release)),
]

let package = Package(
    name: "backprop",
    products: [
        .executable(name: "backprop", targets: ["backprop"]),
        .library(name: "Sheet", targets: ["Sheet"]),
        .library(name: "NN", targets: ["NN"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/weichsel/ZIPFoundation", from: "0.9.19"),
    ],
    targets: [
        // zlib from the system (Debian: zlib1g-dev): deflate for PNG and xlsx, inflate for gzip.
        .systemLibrary(name: "SystemZlib", path: "Sources/SystemZlib"),
        // Part 1: the 2-2-2 network, its gradients, the iteration table, the worked explanation.
        .target(name: "Sheet", dependencies: ["Formats"]),
        // Raw SIMD loops over pointers, the parallel-for, the random generator.
        .target(name: "Kernels", swiftSettings: fast),
        // Tensors, layers, models, losses, optimisers, schedules, the trainer.
        .target(name: "NN", dependencies: ["Kernels", "Formats"], swiftSettings: fast),
        // The training loop, evaluation, metrics, checkpoints and the pictures of a run.
        .target(name: "Training", dependencies: ["NN", "Data", "Formats", "Kernels"], swiftSettings: fast),
        // IDX files, the MNIST fetch, augmentation and batching.
        .target(name: "Data", dependencies: ["Kernels", "Formats", "ZIPFoundation"], swiftSettings: fast),
        // PNG, PGM, safetensors, SVG and PNG charts, the xlsx writer, gzip, MD5.
        .target(name: "Formats", dependencies: ["SystemZlib", "ZIPFoundation"]),
        .executableTarget(name: "backprop", dependencies: [
            "Sheet", "NN", "Data", "Formats", "Kernels", "Training",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ], swiftSettings: fast),
        .testTarget(name: "SheetTests", dependencies: ["Sheet", "Formats"]),
        .testTarget(name: "KernelsTests", dependencies: ["Kernels"]),
        .testTarget(name: "NNTests", dependencies: ["NN", "Kernels", "Data", "Sheet"]),
        .testTarget(name: "TrainingTests", dependencies: ["Training", "NN", "Data", "Formats"]),
        .testTarget(name: "DataTests", dependencies: ["Data", "Formats"]),
        .testTarget(name: "FormatsTests", dependencies: ["Formats"]),
        .testTarget(name: "CLITests", dependencies: ["Formats"]),
    ],
    swiftLanguageModes: [.v5]
)
