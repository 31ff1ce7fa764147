import ArgumentParser
import NN

struct SummaryCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "summary",
        abstract: "Print a model's layers: output shapes, parameters, receptive field and jump, mult-adds, memory.")

    @Option(help: "The model: \(Models.all.map(\.name).joined(separator: ", ")).")
    var model = "s6"

    @Option(help: "Batch size for the activation-memory estimate.")
    var batchSize = 128

    @Flag(help: "Print the architecture as JSON instead (what scripts/torch_twin.py builds the PyTorch twin from).")
    var json = false

    @Flag(help: "List the shipped models instead, one per line: name, then what it is.")
    var list = false

    func validate() throws {
        _ = try modelDefinition(named: model, source: "--model")
        guard batchSize > 0 else { throw ValidationError("--batch-size: expected a positive whole number, got \(batchSize)") }
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

/// The shipped model called `name`, or a one-line error that starts with `source` (the option or
/// the file that named it) and lists the models there are.
func modelDefinition(named name: String, source: String) throws -> ModelDefinition {
    guard let definition = Models.named(name) else {
        throw ValidationError("\(source): unknown model \"\(name)\"; expected one of \(Models.all.map(\.name).joined(separator: ", "))")
    }
    return definition
}
