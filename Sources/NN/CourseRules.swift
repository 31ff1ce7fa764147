import Formats

/// The course's rules for a network, as `backprop summary --rules s6` prints them: each with ✓
/// or ✗, or ℹ for what the course allows either way.
///
/// - `s6` (the assignment): fewer than 20,000 parameters, fewer than 20 epochs, BatchNorm and
///   Dropout used; global average pooling encouraged and a fully connected layer after it allowed.
/// - `s7` (the next session): fewer than 8,000 parameters, at most 15 epochs.
/// - Both: a receptive field of at least the whole 28-pixel digit where the classifier reads it
///   (the input of the last layer with parameters).
public enum CourseRules: String, CaseIterable, Sendable {
    case s6, s7

    public struct Check: Sendable {
        /// True or false for a rule, nil for information.
        public let passed: Bool?
        public let text: String
        public var line: String { (passed.map { $0 ? "✓" : "✗" } ?? "ℹ") + " " + text }
    }

    public func check(_ definition: ModelDefinition) -> [Check] {
        let model = definition.makeModel()
        let summary = ModelSummary(model: model)
        let leaves = model.network.leaves.map(\.layer)
        let parameters = model.parameterCount
        let (limit, epochLimit, epochWords): (Int, Int, String) = self == .s6 ? (20_000, 19, "fewer than 20") : (8_000, 15, "at most 15")
        var checks = [
            Check(passed: parameters < limit, text: "\(grouped(parameters)) parameters (fewer than \(grouped(limit)))"),
            Check(passed: definition.recipe.epochs <= epochLimit, text: "\(definition.recipe.epochs) epochs in the recipe (\(epochWords))"),
        ]
        let batchNorm = leaves.contains { $0 is BatchNorm2d }, dropout = leaves.contains { $0 is Dropout }
        checks.append(Check(passed: self == .s6 ? batchNorm : nil, text: "BatchNorm " + (batchNorm ? "used" : "not used") + (self == .s6 ? "" : " (not required)")))
        checks.append(Check(passed: self == .s6 ? dropout : nil, text: "Dropout " + (dropout ? "used" : "not used") + (self == .s6 ? "" : " (not required)")))
        let gap = leaves.lastIndex { $0 is GlobalAvgPool2d }
        checks.append(Check(passed: nil, text: "global average pooling " + (gap == nil ? "not used (encouraged, not required)" : "used")))
        if let gap {
            let linear = leaves[gap...].contains { $0 is Linear }
            checks.append(Check(passed: nil, text: linear ? "a fully connected layer after GAP (allowed)" : "no fully connected layer after GAP (one is allowed)"))
        }
        // The receptive field where the classifier reads: after the row before the last layer with parameters.
        if let classifier = summary.rows.lastIndex(where: { $0.parameters > 0 && !$0.layer.hasPrefix("BatchNorm") }) {
            let field = classifier > 0 ? summary.rows[classifier - 1].receptiveField : 1
            checks.append(Check(passed: field >= 28, text: "receptive field \(field) where the classifier (\(summary.rows[classifier].name)) reads (at least 28)"))
        }
        return checks
    }
}
