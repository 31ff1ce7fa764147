import ArgumentParser
import Foundation
import Kernels
import Data
import NN
import Training

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Time a model on its real shapes: each layer's forward and backward, whole training steps, and how they scale with batch size and threads.",
        discussion: """
            Random images, no data needed. Medians of --repeats calls after a warm-up. A benchmark: \
            it prints figures and asserts nothing. Timings taken while something else runs are worthless.
            """)

    @Option(help: "The model: \(Models.all.map(\.name).joined(separator: ", ")).")
    var model = "s6"

    @Option(help: "Batch size for the per-layer table.")
    var batchSize = 128

    @Option(help: "Calls per median.")
    var repeats = 20

    @Option(help: "Threads for the per-layer table (default: all cores).")
    var threads: Int?

    @Flag(help: "Also time training steps for batch sizes 32 to 512 with 1 and 2 threads.")
    var scaling = false

    @Flag(help: "Instead: train one real MNIST epoch (SGD 0.01, momentum 0.9, no augmentation), evaluate the test set, print one JSON line (what scripts/bench-vs-torch compares with PyTorch).")
    var epoch = false

    @Option(help: "With --epoch: the folder of the MNIST IDX files (fetched when missing).")
    var data: String?

    func validate() throws {
        _ = try modelDefinition(named: model, source: "--model")
        guard batchSize > 0 else { throw ValidationError("--batch-size: expected a positive whole number, got \(batchSize)") }
        guard repeats > 0 else { throw ValidationError("--repeats: expected a positive whole number, got \(repeats)") }
        if let threads, threads <= 0 { throw ValidationError("--threads: expected a positive whole number, got \(threads)") }
    }

    func run() throws {
        let definition = Models.named(model)!
        if let threads { Threads.count = threads }
        if epoch {
            let folder = try Dataset.locate(.mnist, directory: data) { FileHandle.standardError.write(Data(($0 + "\n").utf8)) }
            let result = try EpochBenchmark.run(definition: definition,
                                                train: try Dataset.load(directory: folder, split: .train),
                                                test: try Dataset.load(directory: folder, split: .test),
                                                normalization: DatasetKind.mnist.normalization, batchSize: batchSize, seed: 1)
            let encoder = JSONEncoder()
            encoder.outputFormatting = .sortedKeys
            print(String(decoding: try encoder.encode(result), as: UTF8.self))
            return
        }
        let bench = LayerBenchmark(definition: definition, batchSize: batchSize, repeats: repeats)
        print("\(model), batch \(batchSize), \(Threads.count) thread(s), median of \(repeats) calls")
        print(pad("step", 26) + pad("output", 18) + lpad("forward ms", 11) + lpad("backward ms", 12) + lpad("GFLOP/s", 9))
        let timings = bench.layers()
        var forwardTotal = 0.0, backwardTotal = 0.0, flops = 0.0
        for t in timings {
            forwardTotal += t.forwardSeconds
            backwardTotal += t.backwardSeconds
            // Forward does M multiply-adds; backward about twice as many (data and weights).
            let work = 2.0 * Double(t.multiplyAdds) * 3
            flops += work
            let rate = t.multiplyAdds > 0 ? String(format: "%.1f", work / (t.forwardSeconds + t.backwardSeconds) / 1e9) : ""
            print(pad(t.name, 26) + pad(t.outputShape.dropFirst().map(String.init).joined(separator: "×"), 18)
                  + lpad(String(format: "%.3f", t.forwardSeconds * 1e3), 11)
                  + lpad(String(format: "%.3f", t.backwardSeconds * 1e3), 12) + lpad(rate, 9))
            print("  " + t.description)
        }
        print(pad("sum of steps", 44) + lpad(String(format: "%.3f", forwardTotal * 1e3), 11)
              + lpad(String(format: "%.3f", backwardTotal * 1e3), 12))
        let step = try bench.trainingStep()
        let evaluation = bench.evaluationStep()
        print(String(format: "whole training step: %.2f ms (%.0f images/s, %.1f GFLOP/s); evaluation: %.2f ms per batch (%.0f images/s)",
                     step * 1e3, Double(batchSize) / step, flops / step / 1e9, evaluation * 1e3, Double(batchSize) / evaluation))
        let peak = measuredPeakGFLOPS()
        print(String(format: "measured peak: %.0f GFLOP/s on %d thread(s) (fused multiply-adds on registers only); the training step reaches %.0f%% of it",
                     peak, Threads.count, 100 * flops / step / 1e9 / peak))

        guard scaling else { return }
        print("\nHow the cost grows: training steps on random images (median of \(repeats)), projected to a 60,000-image epoch")
        print(pad("batch", 8) + lpad("1 thread s/epoch", 18) + lpad("2 threads s/epoch", 19) + lpad("speed-up", 10))
        for batch in [32, 64, 128, 256, 512] {
            var seconds: [Double] = []
            for threadCount in [1, 2] {
                Threads.count = threadCount
                let timing = try LayerBenchmark(definition: definition, batchSize: batch, repeats: repeats).trainingStep()
                seconds.append(timing * 60_000 / Double(batch))
            }
            print(pad("\(batch)", 8) + lpad(String(format: "%.1f", seconds[0]), 18) + lpad(String(format: "%.1f", seconds[1]), 19)
                  + lpad(String(format: "%.2f×", seconds[0] / seconds[1]), 10))
        }
    }

    func pad(_ text: String, _ width: Int) -> String { text.padding(toLength: max(width, text.count + 1), withPad: " ", startingAt: 0) }
    func lpad(_ text: String, _ width: Int) -> String { String(repeating: " ", count: max(0, width - text.count)) + text }
}
