/// How a model is trained unless the user says otherwise: the recipe that reached its result.
public struct Recipe: Sendable, Equatable, Codable {
    public enum OptimizerKind: String, Sendable, Codable { case sgd, adam }
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

    public init(epochs: Int, batchSize: Int, optimizer: OptimizerKind = .sgd, learningRate: Float,
                momentum: Float = 0.9, nesterov: Bool = false, weightDecay: Float = 0,
                schedule: Schedule = .constant, rotationDegrees: Float = 0, translateFraction: Float = 0) {
        self.epochs = epochs; self.batchSize = batchSize; self.optimizer = optimizer
        self.learningRate = learningRate; self.momentum = momentum; self.nesterov = nesterov
        self.weightDecay = weightDecay; self.schedule = schedule
        self.rotationDegrees = rotationDegrees; self.translateFraction = translateFraction
    }
}

/// A model the command line knows by name: how to build it, its default recipe, and a few words.
public struct ModelDefinition: Sendable {
    public let name: String
    public let summary: String
    public let recipe: Recipe
    let build: @Sendable () -> Sequential

    public func makeModel() -> Model {
        // The shapes of the shipped models are checked by the tests, so this cannot fail.
        try! Model(name: name, network: build())
    }
}

/// The shipped models. Each reads like the course's table of layers: the comment on each line is
/// the output size and the receptive field after it.
public enum Models {
    public static let all: [ModelDefinition] = [s6, s7, s5k, seedERAv2, seedERAv1]

    public static func named(_ name: String) -> ModelDefinition? { all.first { $0.name == name } }

    /// Conv → BatchNorm → ReLU → Dropout, the course's block, as a list of layers.
    static func convBlock(_ input: Int, _ output: Int, kernelSize: Int = 3, padding: Int = 0,
                          dropout: Float) -> [Layer] {
        var layers: [Layer] = [Conv2d(input, output, kernelSize: kernelSize, padding: padding, bias: false),
                               BatchNorm2d(output), ReLU()]
        if dropout > 0 { layers.append(Dropout(dropout)) }
        return layers
    }

    /// `s6`: the course's assignment, under 20,000 parameters.
    public static let s6 = ModelDefinition(
        name: "s6",
        summary: "13.5k parameters; two 3×3 convolutions, max-pool + 1×1 transition, four 3×3, GAP, 1×1 to 10",
        recipe: Recipe(epochs: 15, batchSize: 128, learningRate: 0.05, momentum: 0.9, nesterov: true,
                       schedule: .oneCycle(maxLearningRate: 0.1), rotationDegrees: 7),
        build: {
            let d: Float = 0.03
            return Sequential([
                "convblock1": Sequential(layers(
                    convBlock(1, 12, dropout: d),            // 26×26, RF 3
                    convBlock(12, 20, dropout: d))),         // 24×24, RF 5
                "transition1": Sequential(layers(
                    [MaxPool2d(2)],                          // 12×12, RF 6
                    convBlock(20, 12, kernelSize: 1, dropout: 0))),  // 12×12, RF 6
                "convblock2": Sequential(layers(
                    convBlock(12, 16, dropout: d),           // 10×10, RF 10
                    convBlock(16, 16, dropout: d),           // 8×8, RF 14
                    convBlock(16, 20, dropout: d),           // 6×6, RF 18
                    convBlock(20, 20, padding: 1, dropout: 0))),     // 6×6, RF 22
                "gap": GlobalAvgPool2d(),                    // 1×1, RF 32
                "classifier": Conv2d(20, 10, kernelSize: 1, bias: false),
                "log_softmax": LogSoftmax(),
            ])
        })

    /// `s7`: the course's next session, under 8,000 parameters: the same plan as `s6`, narrower,
    /// and one more unpadded 3×3 convolution instead of the padded one.
    public static let s7 = ModelDefinition(
        name: "s7",
        summary: "7.9k parameters; s6's plan with 8–16 channels",
        // Rotation ±5°, not s6's ±7°: with ±7° seed 2 dipped to 99.37% in epoch 12 of 15; with ±5°
        // every seed's last 4 epochs stay ≥ 99.5% (other variants tried: README, Results).
        recipe: Recipe(epochs: 15, batchSize: 128, learningRate: 0.05, momentum: 0.9, nesterov: true,
                       schedule: .oneCycle(maxLearningRate: 0.1), rotationDegrees: 5),
        build: {
            let d: Float = 0.02
            return Sequential([
                "convblock1": Sequential(layers(
                    convBlock(1, 8, dropout: d),             // 26×26, RF 3
                    convBlock(8, 12, dropout: d))),          // 24×24, RF 5
                "transition1": Sequential(layers(
                    [MaxPool2d(2)],                          // 12×12, RF 6
                    convBlock(12, 8, kernelSize: 1, dropout: 0))),   // 12×12, RF 6
                "convblock2": Sequential(layers(
                    convBlock(8, 12, dropout: d),            // 10×10, RF 10
                    convBlock(12, 16, dropout: d),           // 8×8, RF 14
                    convBlock(16, 16, dropout: d),           // 6×6, RF 18
                    convBlock(16, 12, dropout: 0))),         // 4×4, RF 22
                "gap": GlobalAvgPool2d(),                    // 1×1, RF 28
                "classifier": Conv2d(12, 10, kernelSize: 1, bias: false),
                "log_softmax": LogSoftmax(),
            ])
        })

    /// `s5k`: under 5,000 parameters, s7's plan narrowed again (8–12 channels). Nobody has
    /// published a verified 99.4% this small; the README's results say how close it gets.
    public static let s5k = ModelDefinition(
        name: "s5k",
        summary: "4.9k parameters; s7's plan with 8–12 channels",
        recipe: Recipe(epochs: 20, batchSize: 128, learningRate: 0.05, momentum: 0.9, nesterov: true,
                       schedule: .oneCycle(maxLearningRate: 0.1), rotationDegrees: 7),
        build: {
            let d: Float = 0.01
            return Sequential([
                "convblock1": Sequential(layers(
                    convBlock(1, 8, dropout: d),             // 26×26, RF 3
                    convBlock(8, 10, dropout: d))),          // 24×24, RF 5
                "transition1": Sequential(layers(
                    [MaxPool2d(2)],                          // 12×12, RF 6
                    convBlock(10, 8, kernelSize: 1, dropout: 0))),   // 12×12, RF 6
                "convblock2": Sequential(layers(
                    convBlock(8, 10, dropout: d),            // 10×10, RF 10
                    convBlock(10, 12, dropout: d),           // 8×8, RF 14
                    convBlock(12, 10, dropout: d),           // 6×6, RF 18
                    convBlock(10, 10, dropout: 0))),         // 4×4, RF 22
                "gap": GlobalAvgPool2d(),                    // 1×1, RF 28
                "classifier": Conv2d(10, 10, kernelSize: 1, bias: false),
                "log_softmax": LogSoftmax(),
            ])
        })

    /// The second seed's network, layer for layer: 19,822 parameters, biases, Dropout2d(0.1), a
    /// Linear(108 → 10) classifier; SGD 0.01/0.9, batch 128, 18 epochs, no augmentation.
    public static let seedERAv2 = ModelDefinition(
        name: "seed-erav2",
        summary: "the second seed's model: 19,822 parameters, Dropout2d, Linear(108→10)",
        recipe: Recipe(epochs: 18, batchSize: 128, learningRate: 0.01, momentum: 0.9),
        build: {
            func block(_ i: Int, _ o: Int, padding: Int) -> [Layer] {
                [Conv2d(i, o, kernelSize: 3, padding: padding), ReLU(), BatchNorm2d(o)]
            }
            return Sequential([
                "conv1": Sequential(layers(
                    block(1, 12, padding: 1), [Dropout2d(0.1)],                  // 28×28
                    block(12, 16, padding: 1), [MaxPool2d(2), Dropout2d(0.1)])), // 14×14
                "conv2": Sequential(layers(
                    block(16, 20, padding: 1), [Dropout2d(0.1)],                 // 14×14
                    block(20, 28, padding: 1), [MaxPool2d(2), Dropout2d(0.1)])), // 7×7
                "conv3": Sequential(layers(
                    block(28, 24, padding: 0), [Dropout2d(0.1)],                 // 5×5
                    block(24, 12, padding: 0))),                                  // 3×3
                "flatten": Flatten(),                                             // 108
                "fc": Linear(108, 10),
                "log_softmax": LogSoftmax(),
            ])
        })

    /// The first seed's network, layer for layer: 19,568 parameters, no dropout, no biases, the
    /// padded 1×1 convolution included; batch 512, SGD 0.01, 20 epochs, rotation ±15°.
    public static let seedERAv1 = ModelDefinition(
        name: "seed-erav1",
        summary: "the first seed's model: 19,568 parameters, no dropout, AvgPool(3) head",
        recipe: Recipe(epochs: 20, batchSize: 512, learningRate: 0.01, momentum: 0.9, rotationDegrees: 15),
        build: {
            func conv(_ i: Int, _ o: Int, _ k: Int, padding: Int) -> Conv2d {
                Conv2d(i, o, kernelSize: k, padding: padding, bias: false)
            }
            return Sequential([
                "conv1": Sequential(conv(1, 16, 3, padding: 1), BatchNorm2d(16), ReLU(),     // 28×28
                                    conv(16, 32, 3, padding: 1), BatchNorm2d(32), ReLU()),   // 28×28
                "trans1": Sequential(conv(32, 16, 1, padding: 1), BatchNorm2d(16), ReLU(),   // 30×30
                                     MaxPool2d(2)),                                           // 15×15
                "conv2": Sequential(conv(16, 16, 3, padding: 1), BatchNorm2d(16), ReLU(),    // 15×15
                                    conv(16, 64, 3, padding: 1), BatchNorm2d(64), ReLU()),   // 15×15
                "trans2": Sequential(conv(64, 16, 1, padding: 0), ReLU(), BatchNorm2d(16),   // 15×15
                                     MaxPool2d(2)),                                           // 7×7
                "conv3": Sequential(conv(16, 10, 3, padding: 0), ReLU(), AvgPool2d(3)),      // 5×5 → 1×1
                "log_softmax": LogSoftmax(),
            ])
        })
}

/// Joins groups of layers into one list (for `Sequential`'s numbered children).
func layers(_ groups: [Layer]...) -> [Layer] { groups.flatMap { $0 } }
