import ArgumentParser
import NN

struct SummaryCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "summary",
        abstract: "Print a model's layers: output shapes, parameters, receptive field and jump, mult-adds, memory.")

    @Option(help: modelHelp) var model = "s6"

    @Option(help: "Batch size for the activation-memory estimate, \(Recipe.Limits.batchSize.lowerBound) to \(Recipe.Limits.batchSize.upperBound).")
    var batchSize = 128

    @Flag(help: "Print the architecture as JSON instead (what scripts/torch_twin.py builds the PyTorch twin from).")
    var json = false

    @Flag(help: "List the shipped models instead, one per line: name, then what it is.")
    var list = false

    func validate() throws {
        _ = try modelDefinition(named: model, source: "--model")
        guard Recipe.Limits.batchSize.contains(batchSize) else {
            throw ValidationError("--batch-size: expected \(Recipe.Limits.batchSize.lowerBound) to \(Recipe.Limits.batchSize.upperBound), got \(batchSize)")
        }
    }

    func run() throws {
        if list {
            for definition in Models.all { print("\(definition.name)  \(definition.summary)") }
            return
        }
        let definition = Models.named(model)!
        if json {
            print(definition.makeModel().architectureJSON())
            return
        }
        print(ModelSummary(model: definition.makeModel()).render(batchSize: batchSize), terminator: "")
        print("Recipe: \(describe(definition.recipe))")
    }
}

/// One line describing a training recipe, as `summary` and `train` print it.
func describe(_ recipe: Recipe) -> String {
    var parts = ["\(recipe.epochs) epochs", "batch \(recipe.batchSize)"]
    switch recipe.optimizer {
    case .sgd:
        parts.append("SGD lr \(recipe.learningRate) momentum \(recipe.momentum)" + (recipe.nesterov ? " (Nesterov)" : ""))
    case .adam:
        parts.append("Adam lr \(recipe.learningRate)")
    }
    if recipe.weightDecay > 0 { parts.append("weight decay \(recipe.weightDecay)") }
    if recipe.schedule != .constant { parts.append(recipe.schedule.description) }
    if recipe.rotationDegrees > 0 { parts.append("rotation ±\(recipe.rotationDegrees)°") }
    if recipe.translateFraction > 0 { parts.append("translation ±\(recipe.translateFraction)") }
    return parts.joined(separator: ", ")
}

