import Data
import Foundation
import Formats
import NN
import Testing
import Training

@Suite("The validation split, and results reported by seed group")
struct ValidationAndReportTests {
    /// --validation trains on all but the last 5,000 training images and evaluates on those, never
    /// reading the test set (its files are garbage here, which reading would refuse); the run's
    /// state remembers it, and the report keeps such runs apart from test runs.
    @Test func validationRunsNeverReadTheTestSet() throws {
        let data = try syntheticMNISTFolder(train: Dataset.validationCount + 300, test: 10)
        let out = NSTemporaryDirectory() + "backprop-runs-\(UUID().uuidString)"
        defer { for path in [data, out] { try? FileManager.default.removeItem(atPath: path) } }
        for name in ["t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"] { try AtomicFile.write("not IDX", to: data + "/" + name) }

        let all = try Dataset.load(directory: data, split: .train)
        let (train, validation) = all.validationSplit()
        #expect(train.count == 300 && validation.count == Dataset.validationCount)
        #expect(train.images + validation.images == all.images && train.labels + validation.labels == all.labels)

        var recipe = Models.s5k.recipe
        recipe.epochs = 1
        var configuration = RunConfiguration(model: Models.s5k, recipe: recipe, seed: 2, dataset: .mnist, dataDirectory: data,
                                             outDirectory: out, testLimit: 400)
        configuration.validation = true
        var lines: [String] = []
        _ = try TrainingRun(configuration) { lines.append($0) }.execute()
        #expect(lines.contains { $0.hasPrefix("Training s5k on 300 mnist images, validating on the last 400") }, "\(lines)")
        #expect(lines.contains { $0.hasPrefix("Validation set: Average loss:") && $0.contains("/400 (") }, "\(lines)")
        #expect(try TrainingState.read(folder: out).settings.validation == true)
        #expect(try TrainingRun.resuming(folder: out).validation)

        let table = try ResultsReport(folders: [out]).markdownTable()
        #expect(table.contains("| s5k (validation) |"), "\(table)")
    }

    /// A run of `model` with `seed` whose epochs reached `accuracies`.
    static func run(_ model: String, seed: UInt64, _ accuracies: [Double]) -> ResultsReport.Run {
        let metrics = accuracies.enumerated().map { index, accuracy in
            EpochMetrics(epoch: index + 1, lr: 0.01, train_loss: 0.1, train_acc: 99, test_loss: 0.02, test_acc: accuracy, seconds: 4)
        }
        let settings = TrainingState.Settings(model: model, recipe: Models.named(model)!.recipe, seed: seed, dataset: "mnist",
                                              dataDirectory: nil, trainLimit: nil, testLimit: nil)
        return .init(folder: RunFolder("/nonexistent/\(model)-\(seed)"), metrics: metrics, settings: settings,
                     command: "backprop train --model \(model) --seed \(seed) --out runs/x")
    }

    /// Tuned seeds (1–3) and held-out ones get rows of their own, with the mean ± standard
    /// deviation and lowest of the best and of the last-k minimum, and the epochs to first 99.4%.
    @Test func tunedAndHeldOutSeedsAreReportedApart() throws {
        let report = ResultsReport(runs: [
            Self.run("s7", seed: 1, [99.0, 99.4, 99.5, 99.6, 99.5, 99.5]),
            Self.run("s7", seed: 2, [99.0, 99.2, 99.5, 99.5, 99.4, 99.5]),
            Self.run("s7", seed: 3, [99.3, 99.45, 99.3, 99.5, 99.7, 99.6]),
            Self.run("s7", seed: 4, [99.0, 99.1, 99.2, 99.3, 99.3, 99.2]),
            Self.run("s7", seed: 5, [99.0, 99.2, 99.41, 99.5, 99.3, 99.5]),
        ])
        let groups = report.seedGroups(of: "s7")
        #expect(groups.map(\.heldOut) == [false, true])
        #expect(groups[0].runs.map(\.settings.seed) == [1, 2, 3] && groups[1].runs.map(\.settings.seed) == [4, 5])
        #expect(groups[0].lastMinimums == [99.5, 99.4, 99.3])   // s7's target speaks of the last 4 epochs
        #expect(groups[0].epochsToTarget == [2, 3, 2] && groups[1].epochsToTarget == [nil, 3])

        let rows = report.markdownTable().split(separator: "\n").map(String.init)
        #expect(rows.count == 4)
        // Bests 99.6, 99.5, 99.7: mean 99.6, sample deviation 0.1; last-4 minimums 99.5, 99.4, 99.3.
        #expect(rows[2].contains("| 1–3 (tuned) | 99.60 ± 0.10% (99.50%) | 4 | 99.40 ± 0.10% (99.30%) | 2.3 ± 0.6 (3) |"), "\(rows[2])")
        #expect(rows[3].contains("| 4, 5 (held out) | 99.40 ± 0.14% (99.30%) | 4 | 99.25 ± 0.07% (99.20%) | 3; 1 of 2 never |"), "\(rows[3])")
        #expect(rows[3].hasSuffix("| `backprop train --model s7` |"))
    }

    /// The seed models' recipes come from their write-ups: no seed of theirs was tuned on.
    @Test func theSeedModelsHaveNoTunedSeeds() {
        let report = ResultsReport(runs: [Self.run("seed-erav2", seed: 1, [99.3, 99.42])])
        #expect(report.seedGroups(of: "seed-erav2").map(\.heldOut) == [true])
    }
}
