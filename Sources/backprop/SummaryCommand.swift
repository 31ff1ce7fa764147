import ArgumentParser
import Formats
import NN

extension CourseRules: ExpressibleByArgument {}

struct SummaryCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "summary",
        abstract: "Print a model's layers: output shapes, parameters, receptive field and jump, mult-adds, memory.")

    @Option(help: modelHelp) var model = "s6"

    @Option(help: "Show the model with its recipe of this name instead of its own (and --model-file writes that one).")
    var recipe = "default"

    @Option(help: "Batch size for the activation-memory estimate, \(Recipe.Limits.batchSize.lowerBound) to \(Recipe.Limits.batchSize.upperBound).")
    var batchSize = 128

    @Flag(help: "Print the architecture as JSON instead (what scripts/torch_twin.py builds the PyTorch twin from).")
    var json = false

    @Flag(help: "Print the model file instead (docs/model-files.md): a shipped model's is a start for your own.")
    var modelFile = false

    @Option(help: "Check the course's rules and print each with ✓ or ✗: s6 (the assignment) or s7 (the next session); exit status 1 when one fails.")
    var rules: CourseRules?

    @Flag(help: "List the shipped models instead, one per line: name, then what it is.")
    var list = false

    func validate() throws {
        guard Recipe.Limits.batchSize.contains(batchSize) else {
            throw ValidationError("--batch-size: expected \(Recipe.Limits.batchSize.lowerBound) to \(Recipe.Limits.batchSize.upperBound), got \(batchSize)")
        }
    }

    func run() throws {
        if list {
            for definition in Models.all { print("\(definition.name)  \(definition.summary)") }
            return
        }
        let definition = try modelDefinition(named: model, source: "--model").withRecipe(named: recipe, source: "--recipe")
        if json {
            print(definition.makeModel().architectureJSON())
            return
        }
        if modelFile {
            print(definition.modelFileText, terminator: "")
            return
        }
        print(ModelSummary(model: definition.makeModel()).render(batchSize: batchSize), terminator: "")
        print("Recipe: \(describe(definition.recipe))")
        for (name, other) in definition.otherRecipes.sorted(by: { $0.key < $1.key }) where other != definition.recipe {
            print("Recipe \(quoted(name)) (--recipe \(name)): \(describe(other))")
        }
        if let rules {
            let checks = rules.check(definition)
            print("\nThe course's rules (\(rules.rawValue)):")
            for check in checks { print("  " + check.line) }
            if checks.contains(where: { $0.passed == false }) { throw ExitCode(1) }
        }
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
    if let decay = recipe.averagingDecay { parts.append("weights averaged (EMA \(decay))") }
    if let smoothing = recipe.labelSmoothing { parts.append("label smoothing \(smoothing)") }
    return parts.joined(separator: ", ")
}

