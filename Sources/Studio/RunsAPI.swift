import Foundation
import Formats
import Hummingbird
import NN
import Training

/// The runs page's data: every run in the runs folder with its per-epoch figures, whether it was
/// started from the terminal (`backprop train`) or elsewhere; a run still training shows the
/// epochs it has finished.
struct RunsAPI: Sendable {
    let runs: RunCatalog

    struct Run: Encodable {
        var id: String
        var model: String?
        /// The command that started it (its command.txt), if recorded.
        var command: String?
        var has_checkpoint: Bool
        /// Seconds since 1970 of its last change.
        var modified: Double
        var metrics: [EpochMetrics]
    }

    /// A shipped model, for the page's "train" form.
    struct Model: Encodable {
        var name: String
        var summary: String
        var parameters: Int
        var epochs: Int
        var batch_size: Int
        /// The learning rate (OneCycle's peak for the models that use it).
        var lr: Double
    }

    static func peak(of recipe: Recipe) -> Float {
        if case let .oneCycle(peak, _, _, _, _, _) = recipe.schedule { return peak }
        return recipe.learningRate
    }

    func addRoutes(to router: Router<BasicRequestContext>) {
        router.get("/api/models") { _, _ -> Response in
            try jsonResponse(encoding: ["models": Models.all.map { definition in
                Model(name: definition.name, summary: definition.summary,
                      parameters: ModelSummary(model: definition.makeModel()).totalParameters,
                      epochs: definition.recipe.epochs, batch_size: definition.recipe.batchSize,
                      lr: Double(Self.peak(of: definition.recipe)))
            }])
        }
        router.get("/api/runs") { _, _ -> Response in
            let listed = runs.entries().map { entry in
                let command = (try? BoundedFile.read(entry.folder.file("command.txt"), limit: 4_096))
                    .map { String(decoding: $0, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines) }
                return Run(id: entry.id, model: entry.model, command: command, has_checkpoint: entry.hasCheckpoint,
                           modified: entry.modified.timeIntervalSince1970, metrics: (try? entry.folder.metrics()) ?? [])
            }
            return try jsonResponse(encoding: ["runs": listed])
        }
    }
}
