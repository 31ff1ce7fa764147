/// How a model is trained unless the user says otherwise: the recipe that reached its result.
public struct Recipe: Sendable, Equatable, Codable {
    public enum OptimizerKind: String, Sendable, Codable, CaseIterable { case sgd, adam }
    public var epochs: Int
    public var batchSize: Int
    public var optimizer: OptimizerKind
    public var learningRate: Float
    public var momentum: Float
    public var nesterov: Bool
    public var weightDecay: Float
    public var schedule: Schedule
    /// Random rotation in ±degrees (0: none).
    public var rotationDegrees: Float
    /// Random translation as a fraction of the image size (0: none).
    public var translateFraction: Float
    /// Keep an exponential moving average of the weights and BatchNorm statistics, updated after
    /// every step with this decay (nil: none). The average is what each epoch evaluates and saves;
    /// the optimiser keeps training the weights themselves. (Optional, so that recipes saved
    /// without it keep their bytes.)
    public var averagingDecay: Float?
    /// Train towards (1 − ε) on the true class and ε/K spread over all K classes, as PyTorch's
    /// `cross_entropy(…, label_smoothing=ε)` (nil: none, the one-hot target). Evaluation's loss is
    /// always the plain negative log-likelihood. (Optional for the same reason as `averagingDecay`.)
    public var labelSmoothing: Float?

    public init(epochs: Int, batchSize: Int, optimizer: OptimizerKind = .sgd, learningRate: Float,
                momentum: Float = 0.9, nesterov: Bool = false, weightDecay: Float = 0,
                schedule: Schedule = .constant, rotationDegrees: Float = 0, translateFraction: Float = 0,
                averagingDecay: Float? = nil, labelSmoothing: Float? = nil) {
        self.epochs = epochs; self.batchSize = batchSize; self.optimizer = optimizer
        self.learningRate = learningRate; self.momentum = momentum; self.nesterov = nesterov
        self.weightDecay = weightDecay; self.schedule = schedule
        self.rotationDegrees = rotationDegrees; self.translateFraction = translateFraction
        self.averagingDecay = averagingDecay; self.labelSmoothing = labelSmoothing
    }

    /// The ranges every recipe must keep, wherever it comes from (options, a saved run, a model
    /// file): the command-line help quotes them.
    public enum Limits {
        public static let epochs = 1...1000
        public static let batchSize = 1...4096
        public static let learningRate: ClosedRange<Float> = 1e-8...10
        public static let rotationDegrees: ClosedRange<Float> = 0...180
        /// A fraction of the image size, below one half.
        public static let translateFraction: ClosedRange<Float> = 0...0.49
        public static let stepSize = 1...1000
        public static let gamma: ClosedRange<Float> = 1e-6...10
        public static let divFactor: ClosedRange<Float> = 1...1e6
        public static let finalDivFactor: ClosedRange<Float> = 1...1e9
    }

    /// Throws a one-line error naming the first setting outside its range; `option` gives each
    /// setting's name as the user knows it (a command-line option, or a field of a file).
    public func validate(naming option: (String) -> String = { "--" + $0 }) throws {
        func check<T: Comparable>(_ value: T, in range: ClosedRange<T>, _ name: String, _ meaning: String) throws {
            guard range.contains(value) else {
                throw RecipeError("\(option(name)): expected \(meaning) from \(range.lowerBound) to \(range.upperBound), got \(value)")
            }
        }
        func fraction(_ value: Float, _ name: String, _ meaning: String) throws {
            guard value >= 0 && value < 1 else { throw RecipeError("\(option(name)): expected \(meaning) in [0, 1), got \(value)") }
        }
        try check(epochs, in: Limits.epochs, "epochs", "a whole number of epochs")
        try check(batchSize, in: Limits.batchSize, "batch-size", "a whole number of images")
        try check(learningRate, in: Limits.learningRate, "lr", "a learning rate")
        try fraction(momentum, "momentum", "a momentum")
        try check(weightDecay, in: 0...1, "weight-decay", "a weight decay")
        try check(rotationDegrees, in: Limits.rotationDegrees, "rotation", "degrees")
        try check(translateFraction, in: Limits.translateFraction, "translate", "a fraction of the image size")
        if let averagingDecay {
            guard averagingDecay > 0 && averagingDecay < 1 else {
                throw RecipeError("\(option("ema")): expected a decay between 0 and 1, got \(averagingDecay)")
            }
        }
        if let labelSmoothing {
            guard labelSmoothing > 0 && labelSmoothing < 1 else {
                throw RecipeError("\(option("label-smoothing")): expected a fraction between 0 and 1, got \(labelSmoothing)")
            }
        }
        switch schedule {
        case .constant: break
        case let .step(stepSize, gamma):
            try check(stepSize, in: Limits.stepSize, "step-size", "a whole number of epochs")
            try check(gamma, in: Limits.gamma, "gamma", "a factor")
        case let .oneCycle(maxLearningRate, percentStart, divFactor, finalDivFactor, baseMomentum, maxMomentum):
            try check(maxLearningRate, in: Limits.learningRate, "lr", "a peak learning rate")
            guard percentStart > 0 && percentStart < 1 else {
                throw RecipeError("\(option("warmup")): expected a fraction between 0 and 1, got \(percentStart)")
            }
            try check(divFactor, in: Limits.divFactor, "div-factor", "a factor")
            try check(finalDivFactor, in: Limits.finalDivFactor, "final-div-factor", "a factor")
            try fraction(baseMomentum, "base-momentum", "a momentum")
            try fraction(maxMomentum, "max-momentum", "a momentum")
        }
    }
}

/// A recipe setting outside what training can take, in one line.
public struct RecipeError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
