// swift-tools-version:6.1
import PackageDescription

// The kernels are only fast when the compiler may use this CPU's vector units (AVX-512 or AVX2) and
// drop bounds checks: measured here, a plain `-c release` build is 4–5× slower
// (../shared/notes/cpu-kernels.md). So every release build of the engine gets these flags; debug
// builds stay checked. `unsafeFlags` are fine for a root package such as this tool. Code built so
// has no bounds checks: every value from outside is validated by throwing code first (CONTRIBUTING.md).
let fast: [SwiftSetting] = [
    .unsafeFlags(["-Ounchecked", "-target-cpu", "native"], .when(configuration: .release)),
]

let package = Package(
    name: "backprop",
    products: [
        .executable(name: "backprop", targets: ["backprop"]),
        .library(name: "Sheet", targets: ["Sheet"]),
        .library(name: "Check", targets: ["Check"]),
        .library(name: "NN", targets: ["NN"]),
        // For Fuzz/, which fuzzes the readers of these, and Sanitizers/, which tests the engine.
        .library(name: "Kernels", targets: ["Kernels"]),
        .library(name: "Pictures", targets: ["Pictures"]),
        .library(name: "Formats", targets: ["Formats"]),
        .library(name: "Data", targets: ["Data"]),
        .library(name: "Training", targets: ["Training"]),
        .library(name: "Studio", targets: ["Studio"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/weichsel/ZIPFoundation", from: "0.9.19"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
    ],
    targets: [
        // zlib from the system (Debian: zlib1g-dev): deflate for PNG and xlsx, inflate for gzip.
        .systemLibrary(name: "SystemZlib", path: "Sources/SystemZlib"),
        // Part 1: the 2-2-2 network, its gradients, the iteration table, the worked explanation.
        .target(name: "Sheet", dependencies: ["Formats", "Pictures"]),
        // `backprop check`: a learner's own Part 1 spreadsheet read, its formulas evaluated, every
        // cell compared with the exact values from the learner's own starting point, each slip named.
        .target(name: "Check", dependencies: ["Sheet", "Formats", "Pictures"]),
        // Whether the CPU has AVX-512's 32 wide vector registers (cpuid), for the micro-kernels' shapes.
        .target(name: "CPUFeatures"),
        // Raw SIMD loops over pointers, the parallel-for, the random generator.
        .target(name: "Kernels", dependencies: ["CPUFeatures"], swiftSettings: fast),
        // Tensors, batches, layers, models, losses, optimisers, schedules, recipes, the summary.
        .target(name: "NN", dependencies: ["Kernels", "Formats"], swiftSettings: fast),
        // The training loop, evaluation, runs and their files, results reports, benchmarks.
        .target(name: "Training", dependencies: ["NN", "Data", "Formats", "Pictures", "Kernels"], swiftSettings: fast),
        // IDX files, the MNIST fetch (SHA-256 and MD5 from swift-crypto), the pickle reader,
        // augmentation and batching.
        .target(name: "Data", dependencies: ["NN", "Kernels", "Formats", "ZIPFoundation",
                                             .product(name: "Crypto", package: "swift-crypto")], swiftSettings: fast),
        // Files in and out: safetensors, PNG and PGM, gzip and zlib, the xlsx writer, atomic writes;
        // how numbers are written for people.
        // Built like the engine, so that the tests check its zlib calls, readers and writers as users run them.
        .target(name: "Formats", dependencies: ["SystemZlib", "ZIPFoundation"], swiftSettings: fast),
        // SVG and PNG pictures: line charts, digit grids, the canvas and font they are drawn with.
        .target(name: "Pictures", dependencies: ["Formats"]),
        // `backprop serve`: the web page (HTML, CSS, JavaScript in Page/, compiled in) and its JSON API
        // (openapi.json) over the engine, on Hummingbird.
        .target(name: "Studio", dependencies: [
            "Sheet", "Check", "NN", "Data", "Formats", "Kernels", "Training",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ], resources: [.embedInCode("Page/index.html"), .embedInCode("Page/studio.css"), .embedInCode("Page/studio.js"),
                       .embedInCode("openapi.json")]),
        .executableTarget(name: "backprop", dependencies: [
            "Sheet", "Check", "NN", "Data", "Formats", "Pictures", "Kernels", "Training", "Studio",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ],
        // `backprop import`'s tracer, run by a Python with PyTorch; scripts/torch_twin.py imports it too.
        resources: [.embedInCode("import_tracer.py")],
        swiftSettings: fast),
        .testTarget(name: "SheetTests", dependencies: ["Sheet", "Formats", "Kernels"]),
        .testTarget(name: "CheckTests", dependencies: ["Check", "Sheet", "Formats", "ZIPFoundation"]),
        .testTarget(name: "KernelsTests", dependencies: ["Kernels"]),
        .testTarget(name: "NNTests", dependencies: ["NN", "Kernels", "Sheet"]),
        .testTarget(name: "TrainingTests", dependencies: ["Training", "NN", "Data", "Formats"]),
        .testTarget(name: "DataTests", dependencies: ["Data", "Formats", "ZIPFoundation"]),
        .testTarget(name: "FormatsTests", dependencies: ["Formats", "Pictures", "ZIPFoundation"]),
        .testTarget(name: "StudioTests", dependencies: ["Studio", "Sheet", "Formats", "Training", "NN", "Data",
                                                        .product(name: "HummingbirdTesting", package: "hummingbird")]),
        .testTarget(name: "CLITests", dependencies: ["Formats", "Data", "ZIPFoundation"]),
    ],
    swiftLanguageModes: [.v5]
)
