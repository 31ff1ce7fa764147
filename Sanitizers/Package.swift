// swift-tools-version:6.1
import PackageDescription

// The tests again under AddressSanitizer and ThreadSanitizer (scripts/test-sanitizers), in a
// package of their own so that a sanitizer build compiles only what its tests need. The test targets
// are the main package's own folders (symbolic links, one level down, so that #filePath still finds
// the project's root three folders up). The command line's tests (CLITests) run in scripts/test
// only: they start the `backprop` executable, whose build with the server stack took most of the
// sanitizer runs' time when they tested the whole package.
let tested: [(name: String, dependencies: [String])] = [
    ("KernelsTests", ["Kernels"]),
    ("NNTests", ["NN", "Kernels", "Sheet"]),
    ("TrainingTests", ["Training", "NN", "Data", "Formats"]),
    ("DataTests", ["Data", "Formats"]),
    ("FormatsTests", ["Formats", "Pictures"]),
    ("SheetTests", ["Sheet", "Formats", "Kernels"]),
    ("CheckTests", ["Check", "Sheet", "Formats"]),
]
// The studio's tests under ThreadSanitizer only (scripts/test-sanitizers sets BACKPROP_SANITIZER): its
// shared state (the training desk, the event log, the classifier cache) is guarded by locks the
// compiler does not check. Its server stack takes as long to build as the engine, so the ASan build,
// whose reason is the engine's unsafe pointers, leaves it out.
+ (Context.environment["BACKPROP_SANITIZER"] == "thread"
   ? [("StudioTests", ["Studio", "Sheet", "Formats", "Training", "NN", "Data"])] : [])
let zipping: Set = ["DataTests", "FormatsTests", "CheckTests"]

let package = Package(
    name: "backprop-sanitizers",
    dependencies: [
        .package(name: "backprop", path: ".."),
        .package(url: "https://github.com/weichsel/ZIPFoundation", from: "0.9.19"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
    ],
    targets: tested.map { test in
        .testTarget(name: test.name,
                    dependencies: test.dependencies.map { .product(name: $0, package: "backprop") }
                        + (zipping.contains(test.name) ? [.product(name: "ZIPFoundation", package: "ZIPFoundation")] : [])
                        + (test.name == "StudioTests" ? [.product(name: "HummingbirdTesting", package: "hummingbird")] : []),
                    path: test.name)
    },
    swiftLanguageModes: [.v5]
)
