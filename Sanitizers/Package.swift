// swift-tools-version:6.1
import PackageDescription

// The tests again under AddressSanitizer and ThreadSanitizer (scripts/test-sanitizers), in a
// package of their own so that a sanitizer build compiles only what its tests need. The test targets
// are the main package's own folders (symbolic links, one level down, so that #filePath still finds
// the project's root three folders up). The command line's tests (CLITests) run in scripts/test
// only: they start the `backprop` executable, whose build with the server stack took most of the
// sanitizer runs' time when they tested the whole package.
func engine(_ names: String...) -> [Target.Dependency] { names.map { .product(name: $0, package: "backprop") } }
let zip = Target.Dependency.product(name: "ZIPFoundation", package: "ZIPFoundation")

let tested: [(name: String, dependencies: [Target.Dependency])] = [
    ("KernelsTests", engine("Kernels")),
    ("NNTests", engine("NN", "Kernels", "Sheet")),
    ("TrainingTests", engine("Training", "NN", "Data", "Formats")),
    ("DataTests", engine("Data", "Formats") + [zip]),
    ("FormatsTests", engine("Formats", "Pictures") + [zip]),
    ("SheetTests", engine("Sheet", "Formats", "Kernels")),
    ("CheckTests", engine("Check", "Sheet", "Formats") + [zip]),
]
// The studio's tests under ThreadSanitizer only (scripts/test-sanitizers sets BACKPROP_SANITIZER): its
// shared state (the training desk, the event log, the classifier cache) is guarded by locks the
// compiler does not check. Its server stack takes as long to build as the engine, so the ASan build,
// whose reason is the engine's unsafe pointers, leaves it out.
+ (Context.environment["BACKPROP_SANITIZER"] == "thread"
   ? [("StudioTests", engine("Studio", "Sheet", "Formats", "Training", "NN", "Data")
                      + [.product(name: "HummingbirdTesting", package: "hummingbird")])] : [])

let package = Package(
    name: "backprop-sanitizers",
    dependencies: [
        .package(name: "backprop", path: ".."),
        .package(url: "https://github.com/weichsel/ZIPFoundation", from: "0.9.19"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
    ],
    targets: tested.map { .testTarget(name: $0.name, dependencies: $0.dependencies, path: $0.name) },
    swiftLanguageModes: [.v5]
)
