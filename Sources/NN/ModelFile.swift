import Foundation
import Formats

/// A model file: a network written as the course's table of layers, in PyTorch's words, with an
/// optional recipe (docs/model-files.md has the format and a full example).
///
///     {"name": "mine",
///      "layers": [{"convblock1": ["Conv2d(1, 8, kernel_size=3, bias=False)", "BatchNorm2d(8)", "ReLU()"]},
///                 {"gap": "AdaptiveAvgPool2d(1)"}, {"classifier": "Conv2d(8, 10, kernel_size=1)"},
///                 "Flatten()", "LogSoftmax(dim=1)"],
///      "recipe": {"epochs": 15, "lr": 0.05}}
///
/// `read` checks the JSON, each layer's arguments and the parameter count before a parameter is
/// allocated, then the shapes layer by layer before any data flows; errors name the layer by its
/// dotted PyTorch name. Building turns each Conv2d → BatchNorm2d → ReLU or Conv2d → ReLU →
/// BatchNorm2d (→ Dropout) run into a `ConvBlock`, which computes the same numbers as the layers,
/// faster.
public enum ModelFile {
    /// The largest file read, the most layers, parameters and activations (floats per image) a
    /// model may have, and how deep the layer lists may nest.
    public static let sizeLimit = 1 << 20
    public static let layerLimit = 1000
    public static let parameterLimit = 5_000_000
    public static let activationLimit = 4_000_000
    static let nestingLimit = 8
    /// Every model file model reads MNIST's 1×28×28 images and gives 10 log-probabilities.
    static let inputShape = [1, 28, 28], classes = 10

    /// The model in the file at `path`; without a "name", it is called `defaultName`, else after
    /// the file.
    public static func read(_ path: String, defaultName: String? = nil) throws -> ModelDefinition {
        let bytes = try BoundedFile.read(path, limit: sizeLimit)
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw ModelError("\(path): not UTF-8 text; expected a model file (JSON, docs/model-files.md)")
        }
        let stem = URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent
        return try parse(text, source: path, defaultName: defaultName ?? stem)
    }

    /// The model described by `text`; `source` starts every error message.
    public static func parse(_ text: String, source: String, defaultName: String = "model") throws -> ModelDefinition {
        do {
            return try definition(text, defaultName: defaultName)
        } catch let error as ModelError {
            throw ModelError("\(source): \(error.description)")
        } catch let error as RecipeError {
            throw ModelError("\(source): \(error.description)")
        }
    }

    private static let topLevelKeys = ["name", "summary", "layers", "recipe", "source", "parameters"]

    private static func definition(_ text: String, defaultName: String) throws -> ModelDefinition {
        try checkNesting(text)
        let json: Any
        do { json = try JSONSerialization.jsonObject(with: Data(text.utf8)) } catch {
            throw ModelError("not valid JSON (\(oneLine(error))); expected a model file, docs/model-files.md")
        }
        guard let object = json as? [String: Any] else { throw ModelError("expected a JSON object with \"layers\"") }
        if let unknown = object.keys.sorted().first(where: { !topLevelKeys.contains($0) }) {
            throw ModelError("unknown key \(quoted(unknown)); expected \(topLevelKeys.joined(separator: ", "))")
        }
        let name = try string(object["name"], "name") ?? defaultName
        guard !name.isEmpty, name.utf8.count <= 64,
              name.unicodeScalars.allSatisfy({ CharacterSet.alphanumerics.contains($0) && $0.isASCII || "-_.".unicodeScalars.contains($0) }),
              name.first != "." else {
            throw ModelError("name \(quoted(name)): expected 1 to 64 letters, digits, '-', '_' or '.', not starting with '.'")
        }
        guard let layers = object["layers"] as? [Any] else { throw ModelError("\"layers\" is missing or not a list") }
        let entries = try parseEntries(layers, prefix: "", topLevel: true)
        var count = 0
        try countLayers(entries, &count)
        guard count <= layerLimit else { throw ModelError("\(count) layers; at most \(layerLimit)") }
        let parameters = try parameterCount(entries)
        guard parameters <= parameterLimit else {
            throw ModelError("\(grouped(parameters)) parameters; at most \(grouped(parameterLimit)) (this tool trains small networks on a CPU)")
        }
        if let stated = object["parameters"] {
            guard let number = stated as? NSNumber, !isBoolean(number), number.doubleValue == Double(parameters) else {
                throw ModelError("\"parameters\" says \(quoted("\(stated)")), the layers have \(parameters)")
            }
        }
        let recipe = try parseRecipe(object["recipe"])
        let network = try build(entries)
        try checkShapes(network)
        let summary = try string(object["summary"], "summary") ?? "from a model file, \(grouped(parameters)) parameters"
        return ModelDefinition(name: name, summary: summary, recipe: recipe, file: text) { try! build(entries) }
    }

    // MARK: The layers

    /// One entry of a layer list: a layer, or an `nn.Sequential` of entries; `name` is the dotted
    /// name PyTorch gives it, `given` the name in the file (nil: numbered by position).
    fileprivate indirect enum Entry: Sendable {
        case layer(name: String, given: String?, call: LayerCall)
        case sequential(name: String, given: String?, entries: [Entry])

        var given: String? {
            switch self {
            case let .layer(_, given, _), let .sequential(_, given, _): return given
            }
        }
    }

    private static func parseEntries(_ items: [Any], prefix: String, topLevel: Bool, depth: Int = 0) throws -> [Entry] {
        guard depth < nestingLimit else { throw ModelError("\(prefix.dropLast()): Sequentials nested more than \(nestingLimit) deep") }
        var entries: [Entry] = [], position = 0, seen: Set<String> = []
        for (index, item) in items.enumerated() {
            var given: String? = nil
            var value: Any = item
            if let object = item as? [String: Any] {
                guard topLevel, object.count == 1, let (key, inner) = object.first else {
                    throw ModelError(topLevel ? "layers[\(index)]: expected {\"NAME\": layer} with one name, got \(object.count) keys"
                                              : "\(prefix)\(index): names go on the top level only; inside a list, layers are numbered")
                }
                guard isIdentifier(key) else { throw ModelError("layers[\(index)]: name \(quoted(key)) is not a Python identifier") }
                guard seen.insert(key).inserted else { throw ModelError("layers[\(index)]: the name \(quoted(key)) is used twice") }
                given = key
                value = inner
            }
            let name = prefix + (given ?? String(position))
            if given == nil { position += 1 }
            switch value {
            case let text as String:
                let call: LayerCall
                do { call = try LayerCall(parsing: text) } catch let error as ModelError { throw ModelError("\(name): \(error.description)") }
                let count: Int
                do { count = try call.parameterCount() } catch let error as ModelError { throw ModelError("\(name): \(error.description)") }
                if topLevel, given == nil, count > 0 {
                    throw ModelError("\(name): \(quoted(text)) has parameters, so it needs a name: {\"NAME\": \(quoted(text))}")
                }
                entries.append(.layer(name: name, given: given, call: call))
            case let list as [Any]:
                guard !list.isEmpty else { throw ModelError("\(name): an empty list of layers") }
                entries.append(.sequential(name: name, given: given,
                                           entries: try parseEntries(list, prefix: name + ".", topLevel: false, depth: depth + 1)))
            default:
                throw ModelError("\(name): expected a layer such as \"ReLU()\" or a list of them")
            }
        }
        if topLevel && entries.isEmpty { throw ModelError("\"layers\" is empty") }
        return entries
    }

    private static func countLayers(_ entries: [Entry], _ count: inout Int) throws {
        for entry in entries {
            guard count <= layerLimit else { return }
            switch entry {
            case .layer: count += 1
            case let .sequential(_, _, inner): try countLayers(inner, &count)
            }
        }
    }

    private static func parameterCount(_ entries: [Entry]) throws -> Int {
        try entries.reduce(0) { total, entry in
            switch entry {
            case let .layer(name, _, call):
                do { return total + (try call.parameterCount()) } catch let error as ModelError { throw ModelError("\(name): \(error.description)") }
            case let .sequential(_, _, inner): return total + (try parameterCount(inner))
            }
        }
    }

    /// The network of `entries`, each Conv2d → BatchNorm2d → ReLU or Conv2d → ReLU → BatchNorm2d (→ Dropout)
    /// run as a `ConvBlock`.
    fileprivate static func build(_ entries: [Entry]) throws -> Sequential {
        var built: [(names: [String?], layer: Layer)] = []
        var index = 0
        while index < entries.count {
            if let (block, length) = try convBlock(at: index, in: entries) {
                built.append((entries[index..<index + length].map(\.given), block))
                index += length
                continue
            }
            switch entries[index] {
            case let .layer(name, given, call):
                built.append(([given], try layer(call, name)))
            case let .sequential(_, given, inner):
                built.append(([given], try build(inner)))
            }
            index += 1
        }
        return Sequential(entries: built)
    }

    /// A fused block starting at `index`, and how many entries it takes, if they form one.
    private static func convBlock(at index: Int, in entries: [Entry]) throws -> (ConvBlock, Int)? {
        func type(_ i: Int) -> String? {
            guard i < entries.count, case let .layer(_, _, call) = entries[i] else { return nil }
            return call.type
        }
        func layer(_ i: Int) throws -> Layer? {
            guard i < entries.count, case let .layer(name, _, call) = entries[i] else { return nil }
            return try ModelFile.layer(call, name)
        }
        // Types first, so that layers are made only for a block that may fuse.
        let order: ConvBlock.Order
        switch (type(index), type(index + 1), type(index + 2)) {
        case ("Conv2d", "BatchNorm2d", "ReLU"): order = .batchNormThenReLU
        case ("Conv2d", "ReLU", "BatchNorm2d"): order = .reluThenBatchNorm
        default: return nil
        }
        let normalizationIndex = order == .batchNormThenReLU ? index + 1 : index + 2
        guard let convolution = try layer(index) as? Conv2d, let normalization = try layer(normalizationIndex) as? BatchNorm2d,
              normalization.channels == convolution.outChannels else { return nil }
        let dropout = try layer(index + 3) as? Dropout
        return (ConvBlock(convolution, normalization, dropout: dropout, order: order), dropout == nil ? 3 : 4)
    }

    /// The layer of `call`, errors naming it.
    private static func layer(_ call: LayerCall, _ name: String) throws -> Layer {
        do { return try call.layer() } catch let error as ModelError { throw ModelError("\(name): \(error.description)") }
    }

    /// Walks the shapes from the image to the output, naming the first layer that does not fit.
    private static func checkShapes(_ network: Sequential) throws {
        var shape = inputShape, floats = 0
        var lastResizer = "the input image"
        for (name, layer) in network.leaves {
            let expected: (count: Int, what: String)?
            switch layer {
            case let conv as Conv2d: expected = (conv.inChannels, "input channels")
            case let norm as BatchNorm2d: expected = (norm.channels, "channels")
            case let linear as Linear: expected = (linear.inFeatures, "input features")
            default: expected = nil
            }
            let type = layer.spec?.type ?? layer.description
            if let expected {
                let got = layer is Linear ? shape.reduce(1, *) : shape[0]
                if got != expected.count || (layer is Linear && shape.count != 1) {
                    let detail = layer is Linear && shape.count != 1 ? " (a \(shape.map(String.init).joined(separator: "×")) map: flatten it first)" : ""
                    throw ModelError("\(name): \(type) expects \(expected.count) \(expected.what), gets \(got) from \(lastResizer)\(detail)")
                }
            }
            if layer is LogSoftmax && shape.dropFirst().contains(where: { $0 > 1 }) {
                throw ModelError("\(name): LogSoftmax(dim=1) over a \(shape.map(String.init).joined(separator: "×")) map; the engine's takes one vector of classes per image (pool or flatten first)")
            }
            let input = shape
            do { shape = try layer.outputShape(for: shape) } catch let error as ModelError {
                throw ModelError("\(name): \(error.description)")
            }
            // The layer's output, and the copy of its input a strided or dilated convolution makes.
            floats += shape.reduce(1, *) + ((layer as? Conv2d)?.rearrangedFloats(for: input) ?? 0)
            guard floats <= activationLimit else {
                throw ModelError("\(name): the activations reach \(grouped(floats)) numbers per image (with the inputs strided convolutions rearrange); at most \(grouped(activationLimit))")
            }
            if layer is Conv2d || layer is Linear || layer is Flatten { lastResizer = name }
        }
        guard let last = network.leaves.last?.layer, last is LogSoftmax else {
            throw ModelError("the last layer must be LogSoftmax(dim=1): training minimises the negative log-likelihood of its log-probabilities")
        }
        guard shape == [classes] else {
            throw ModelError("the output has \(shape.reduce(1, *)) numbers per image; expected the \(classes) classes' log-probabilities")
        }
    }

    // MARK: The recipe

    private static let recipeKeys = ["epochs", "batch_size", "optimizer", "lr", "momentum", "nesterov", "weight_decay",
                                     "schedule", "max_lr", "pct_start", "step_size", "gamma", "rotation", "translate", "ema",
                                     "label_smoothing"]

    /// Without a recipe, a model trains as the course's first notebooks do.
    public static let defaultRecipe = Recipe(epochs: 15, batchSize: 128, learningRate: 0.01, momentum: 0.9)

    private static func parseRecipe(_ value: Any?) throws -> Recipe {
        guard let value else { return defaultRecipe }
        guard let r = value as? [String: Any] else { throw ModelError("\"recipe\" must be an object") }
        if let unknown = r.keys.sorted().first(where: { !recipeKeys.contains($0) }) {
            throw ModelError("recipe: unknown key \(quoted(unknown)); expected \(recipeKeys.joined(separator: ", "))")
        }
        func number(_ key: String) throws -> Float? {
            guard let v = r[key] else { return nil }
            guard let n = v as? NSNumber, !isBoolean(n), n.doubleValue.isFinite, abs(n.doubleValue) < 1e30 else {
                throw ModelError("recipe: \(key) must be a number")
            }
            return n.floatValue
        }
        func whole(_ key: String) throws -> Int? {
            guard let x = try number(key) else { return nil }
            guard x == x.rounded(), abs(x) < 1e9 else { throw ModelError("recipe: \(key) must be a whole number, got \(x)") }
            return Int(x)
        }
        func flag(_ key: String) throws -> Bool? {
            guard let v = r[key] else { return nil }
            guard let b = v as? NSNumber, isBoolean(b) else { throw ModelError("recipe: \(key) must be true or false") }
            return b.boolValue
        }
        var recipe = defaultRecipe
        if let v = try whole("epochs") { recipe.epochs = v }
        if let v = try whole("batch_size") { recipe.batchSize = v }
        if let v = try string(r["optimizer"], "recipe: optimizer") {
            guard let kind = Recipe.OptimizerKind(rawValue: v) else { throw ModelError("recipe: optimizer \(quoted(v)); expected sgd or adam") }
            recipe.optimizer = kind
        }
        if let v = try number("lr") { recipe.learningRate = v }
        if let v = try number("momentum") { recipe.momentum = v }
        if let v = try flag("nesterov") { recipe.nesterov = v }
        if let v = try number("weight_decay") { recipe.weightDecay = v }
        if let v = try number("rotation") { recipe.rotationDegrees = v }
        if let v = try number("translate") { recipe.translateFraction = v }
        if let v = try number("ema") { recipe.averagingDecay = v == 0 ? nil : v }
        if let v = try number("label_smoothing") { recipe.labelSmoothing = v == 0 ? nil : v }
        switch try string(r["schedule"], "recipe: schedule") ?? "constant" {
        case "constant": recipe.schedule = .constant
        case "step": recipe.schedule = .step(stepSize: try whole("step_size") ?? 6, gamma: try number("gamma") ?? 0.3)
        case "onecycle":
            guard case let .oneCycle(_, pct, div, finalDiv, base, top) = Schedule.oneCycle(maxLearningRate: 1) else { fatalError() }
            recipe.schedule = .oneCycle(maxLearningRate: try number("max_lr") ?? recipe.learningRate, percentStart: try number("pct_start") ?? pct,
                                        divFactor: div, finalDivFactor: finalDiv, baseMomentum: base, maxMomentum: top)
        case let other: throw ModelError("recipe: schedule \(quoted(other)); expected constant, step or onecycle")
        }
        try recipe.validate { "recipe: " + $0.replacingOccurrences(of: "-", with: "_") }
        return recipe
    }

    // MARK: Writing

    /// The model file of a model (for the shipped ones, their file; `backprop summary --model-file`).
    public static func text(for definition: ModelDefinition) -> String {
        let network = definition.makeModel().network
        var lines: [String] = []
        for (names, child) in zip(network.entryNames, network.children.map(\.layer)) {
            if let inner = child as? Sequential, let name = names[0] {
                let items = layerTexts(inner)
                lines.append("    {\(json(name)): [\n      " + items.joined(separator: ",\n      ") + "\n    ]}")
            } else if names.count == child.parts.count, !child.parts.isEmpty {
                for (name, part) in zip(names, child.parts) {
                    lines.append("    " + (name.map { "{\(json($0)): \(json(part.layer.description))}" } ?? json(part.layer.description)))
                }
            } else {
                let text = json(child.description)
                lines.append("    " + (names[0].map { "{\(json($0)): \(text)}" } ?? text))
            }
        }
        var out = "{\n  \"name\": \(json(definition.name)),\n  \"summary\": \(json(definition.summary)),\n"
        out += "  \"layers\": [\n" + lines.joined(separator: ",\n") + "\n  ],\n"
        out += "  \"recipe\": \(recipeJSON(definition.recipe))\n}\n"
        return out
    }

    /// The layers of a Sequential as the entries of a list: a block gives its parts, an inner
    /// Sequential a list of its own.
    private static func layerTexts(_ sequential: Sequential) -> [String] {
        sequential.children.flatMap { child -> [String] in
            if let inner = child.layer as? Sequential { return ["[" + layerTexts(inner).joined(separator: ", ") + "]"] }
            if !child.layer.parts.isEmpty { return child.layer.parts.map { json($0.layer.description) } }
            return [json(child.layer.description)]
        }
    }

    private static func recipeJSON(_ recipe: Recipe) -> String {
        var fields: [(String, String)] = [("epochs", "\(recipe.epochs)"), ("batch_size", "\(recipe.batchSize)"),
                                          ("optimizer", json(recipe.optimizer.rawValue)), ("lr", "\(recipe.learningRate)"),
                                          ("momentum", "\(recipe.momentum)"), ("nesterov", "\(recipe.nesterov)"),
                                          ("weight_decay", "\(recipe.weightDecay)")]
        switch recipe.schedule {
        case .constant: fields.append(("schedule", "\"constant\""))
        case let .step(size, gamma): fields += [("schedule", "\"step\""), ("step_size", "\(size)"), ("gamma", "\(gamma)")]
        case let .oneCycle(peak, pct, _, _, _, _): fields += [("schedule", "\"onecycle\""), ("max_lr", "\(peak)"), ("pct_start", "\(pct)")]
        }
        fields += [("rotation", "\(recipe.rotationDegrees)"), ("translate", "\(recipe.translateFraction)")]
        if let decay = recipe.averagingDecay { fields.append(("ema", "\(decay)")) }
        if let smoothing = recipe.labelSmoothing { fields.append(("label_smoothing", "\(smoothing)")) }
        return "{" + fields.map { "\(json($0.0)): \($0.1)" }.joined(separator: ", ") + "}"
    }

    // MARK: Small helpers

    private static func json(_ text: String) -> String {
        String(decoding: try! JSONSerialization.data(withJSONObject: text, options: [.fragmentsAllowed, .withoutEscapingSlashes]), as: UTF8.self)
    }

    private static func string(_ value: Any?, _ key: String) throws -> String? {
        guard let value else { return nil }
        guard let text = value as? String, text.utf8.count <= 1000 else { throw ModelError("\(key) must be a string (at most 1,000 characters)") }
        return text
    }

    private static func isIdentifier(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first, name.utf8.count <= 64, !CharacterSet.decimalDigits.contains(first) else { return false }
        return name.unicodeScalars.allSatisfy { $0.isASCII && (CharacterSet.alphanumerics.contains($0) || $0 == "_") }
    }

    /// Refuses brackets nested deeper than the format allows before the JSON parser recurses.
    private static func checkNesting(_ text: String) throws {
        var depth = 0, inString = false, escaped = false
        for byte in text.utf8 {
            if inString {
                if escaped { escaped = false } else if byte == UInt8(ascii: "\\") { escaped = true } else if byte == UInt8(ascii: "\"") { inString = false }
                continue
            }
            switch byte {
            case UInt8(ascii: "\""): inString = true
            case UInt8(ascii: "["), UInt8(ascii: "{"):
                depth += 1
                guard depth <= 2 * nestingLimit + 4 else { throw ModelError("lists nested more than \(nestingLimit) deep") }
            case UInt8(ascii: "]"), UInt8(ascii: "}"): depth -= 1
            default: break
            }
        }
    }

    /// Whether JSON wrote this number as true or false (Foundation gives both as NSNumber).
    private static func isBoolean(_ number: NSNumber) -> Bool { String(cString: number.objCType) == "c" }

    private static func oneLine(_ error: Error) -> String {
        let text = (error as NSError).userInfo[NSDebugDescriptionErrorKey] as? String ?? "\(error)"
        return String(text.split(whereSeparator: \.isNewline).first ?? "")
    }
}
