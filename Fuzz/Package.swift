// swift-tools-version:6.1
import PackageDescription

// Coverage-guided fuzzing (libFuzzer) of every reader that takes a file from a user. Built apart
// from the main package, with the fuzzer and AddressSanitizer: scripts/fuzz builds, seeds and runs
// these (see CONTRIBUTING.md). Each executable fuzzes one reader and what the engine does next
// with what it read.
let readers = ["FuzzIDX", "FuzzGzip", "FuzzSafetensors", "FuzzTrainingState", "FuzzPNG", "FuzzPGM", "FuzzPickle", "FuzzModelFile",
               "FuzzSpreadsheet"]

let package = Package(
    name: "backprop-fuzz",
    dependencies: [
        .package(name: "backprop", path: ".."),
        // The same ZIPFoundation backprop uses: FuzzSpreadsheet writes its seeds' zips with it.
        .package(url: "https://github.com/weichsel/ZIPFoundation", from: "0.9.19"),
    ],
    targets: [
        .target(name: "FuzzSupport", dependencies: [.product(name: "Formats", package: "backprop")]),
    ] + readers.map { name in
        .executableTarget(name: name, dependencies: [
            "FuzzSupport",
            .product(name: "Formats", package: "backprop"), .product(name: "Data", package: "backprop"),
            .product(name: "NN", package: "backprop"), .product(name: "Training", package: "backprop"),
        ] + (name == "FuzzSpreadsheet" ? [.product(name: "ZIPFoundation", package: "ZIPFoundation")] : []))
    },
    swiftLanguageModes: [.v5]
)
