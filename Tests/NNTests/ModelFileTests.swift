import Foundation
import NN
import Testing

@Suite("Model files")
struct ModelFileTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path

    /// models/NAME.json is what `summary --model-file` writes for the compiled model, and reads
    /// back as the same network: layers, PyTorch names, fused blocks, recipe.
    @Test(arguments: Models.all.map(\.name))
    func shippedFilesAgreeWithTheCompiledModels(name: String) throws {
        let compiled = try #require(Models.named(name))
        let path = Self.root + "/models/\(name).json"
        let text = try String(contentsOfFile: path, encoding: .utf8)
        #expect(text == ModelFile.text(for: compiled), "models/\(name).json is stale: backprop summary --model \(name) --model-file > models/\(name).json")
        let file = try ModelFile.read(path)
        #expect(file.name == compiled.name)
        #expect(file.recipe == compiled.recipe)
        let a = file.makeModel(), b = compiled.makeModel()
        #expect(a.architecture == b.architecture)
        #expect(a.network.steps.map(\.name) == b.network.steps.map(\.name))
        #expect(a.network.steps.map(\.layer.description) == b.network.steps.map(\.layer.description))
        #expect(a.parameters.map(\.name) == b.parameters.map(\.name))
        #expect(a.buffers.map(\.name) == b.buffers.map(\.name))
    }

    /// Conv2d → ReLU → BatchNorm2d (→ Dropout2d), the seed models' order, fuses too, into a block
    /// of that order; a ReLU with no BatchNorm after it does not.
    @Test func reluBeforeBatchNormIsFusedInThatOrder() throws {
        let text = """
        {"name": "relu-first", "layers": [
          {"c1": "Conv2d(1, 8, 3, padding=1)"}, "ReLU()", {"b1": "BatchNorm2d(8)"}, "Dropout2d(p=0.1)",
          {"c2": "Conv2d(8, 8, 3)"}, "ReLU()", {"b2": "BatchNorm2d(8)"}, "MaxPool2d(2)",
          {"c3": "Conv2d(8, 10, 3)"}, "ReLU()", "AdaptiveAvgPool2d(1)", "Flatten()", "LogSoftmax(dim=1)"]}
        """
        let model = try ModelFile.parse(text, source: "test").makeModel()
        let blocks = model.network.steps.compactMap { $0.layer as? ConvBlock }
        #expect(blocks.map(\.order) == [.reluThenBatchNorm, .reluThenBatchNorm])
        #expect(blocks.map { $0.dropout?.wholeChannels } == [true, nil])
        #expect(model.parameters.map(\.name) == ["c1.weight", "c1.bias", "b1.weight", "b1.bias", "c2.weight", "c2.bias",
                                                  "b2.weight", "b2.bias", "c3.weight", "c3.bias"])
    }

    /// A PyTorch class's attributes (conv1, bn1, a functional relu and dropout) become one fused
    /// block whose parts keep the attributes' names.
    @Test func attributesWithFunctionalCallsAreFusedUnderTheirOwnNames() throws {
        let text = """
        {"name": "attributes", "layers": [
          {"conv1": "Conv2d(1, 8, 3, bias=False)"}, {"bn1": "BatchNorm2d(8)"}, "ReLU()", "Dropout(p=0.1)",
          {"conv2": "Conv2d(8, 10, kernel_size=(3, 3), stride=2, padding=1)"}, {"bn2": "BatchNorm2d(10, eps=1e-3)"}, "ReLU()",
          "AdaptiveAvgPool2d((1, 1))", "Flatten()", {"fc": "Linear(10, 10)"}, "LogSoftmax(dim=-1)"]}
        """
        let model = try ModelFile.parse(text, source: "test").makeModel()
        #expect(model.parameters.map(\.name) == ["conv1.weight", "bn1.weight", "bn1.bias", "conv2.weight", "conv2.bias",
                                                  "bn2.weight", "bn2.bias", "fc.weight", "fc.bias"])
        #expect(model.buffers.map(\.name).contains("bn2.num_batches_tracked"))
        let blocks = model.network.steps.filter { $0.layer is ConvBlock }
        #expect(blocks.map(\.name) == ["conv1–1", "conv2–2"])
        #expect(model.parameterCount == 8 * 9 + 16 + 10 * 8 * 9 + 10 + 20 + 110)
        let conv2 = try #require(model.network.leaves.first { $0.name == "conv2" }?.layer as? Conv2d)
        #expect(conv2.stride == 2 && conv2.padding == 1 && conv2.kernelSize == 3)
        let bn2 = try #require(model.network.leaves.first { $0.name == "bn2" }?.layer as? BatchNorm2d)
        #expect(bn2.epsilon == 1e-3)
    }

    /// Every mistake gives one line naming the layer and what was expected, before anything is
    /// allocated.
    @Test(arguments: [
        (#"["Conv2d(1, 8, 3)"]"#, "expected a JSON object"),
        (#"{"layers": [{"a": ["Conv2d(1, 8, 3)", "ReLU()"]}, {"b": ["Conv2d(1, 8, 3)"]}, "LogSoftmax()"]}"#,
         "b.0: Conv2d expects 1 input channels, gets 8 from a.0"),
        (#"{"layers": [{"c": ["Conv2d(1, 16, 3)", "Conv2d(16, 16, 3)", "Conv2d(20, 10, 3)"]}, "LogSoftmax()"]}"#,
         "c.2: Conv2d expects 20 input channels, gets 16 from c.1"),
        (#"{"layers": [{"c": ["Conv2d(1, 8, 5)", "MaxPool2d(2)", "Conv2d(8, 8, 5)", "MaxPool2d(2)", "Conv2d(8, 10, 5)"]}, "LogSoftmax()"]}"#,
         "c.4: Conv2d(8, 10, kernel_size=5) needs images of at least 5 pixels, got 4×4"),
        (#"{"layers": [{"c": "Conv3d(1, 8, 3)"}]}"#, "c: unknown layer \"Conv3d\" in \"Conv3d(1, 8, 3)\"; expected one of Conv2d, BatchNorm2d"),
        (#"{"layers": [{"c": "Conv2d(1, 0, 3)"}]}"#, "c: Conv2d: out_channels must be a whole number from 1 to 4096, got 0"),
        (#"{"layers": [{"c": "Conv2d(1, 8, -3)"}]}"#, "c: Conv2d: kernel_size must be a whole number from 1 to 28, got -3"),
        (#"{"layers": [{"fc": "Linear(1000000, 1000)"}]}"#, "1,000,001,000 parameters; at most 5,000,000"),
        (#"{"layers": ["Conv2d(1, 8, 3)", "LogSoftmax()"]}"#, "0: \"Conv2d(1, 8, 3)\" has parameters, so it needs a name"),
        (#"{"layers": [{"a": "ReLU()"}, {"a": "ReLU()"}]}"#, "the name \"a\" is used twice"),
        (#"{"layers": [{"c": "Conv2d(1, 10, 28)"}, "Flatten()"]}"#, "the last layer must be LogSoftmax(dim=1)"),
        (#"{"layers": [{"c": "Conv2d(1, 12, 28)"}, "LogSoftmax()"]}"#, "the output has 12 numbers per image; expected the 10 classes"),
        (#"{"layers": [{"c": "Conv2d(1, 10, 28, groups=2)"}, "LogSoftmax()"]}"#, "c: Conv2d: groups=2 must divide in_channels (1) and out_channels (10)"),
        (#"{"layers": [{"p": "MaxPool2d(3, stride=2)"}]}"#, "p: MaxPool2d: only windows that do not overlap are supported"),
        (#"{"layers": [{"c": "Conv2d(1, 10, 28"}]}"#, "c: cannot read the layer \"Conv2d(1, 10, 28\": expected \")\""),
        (#"{"layers": [{"c": "Conv2d(1, 10, 28, kernel=3)"}]}"#, "c: Conv2d has no argument \"kernel\"; its arguments are in_channels"),
        (#"{"layers": [{"fc": "Linear(784, 10)"}, "LogSoftmax()"]}"#, "fc: Linear expects 784 input features, gets 784 from the input image (a 1×28×28 map: flatten it first)"),
        (#"{"layers": ["Flatten()", {"fc": "Linear(784, 10)"}, "LogSoftmax()"], "recipe": {"epochs": 0}}"#,
         "recipe: epochs: expected a whole number of epochs from 1 to 1000, got 0"),
        (#"{"layers": ["Flatten()", {"fc": "Linear(784, 10)"}, "LogSoftmax()"], "recipe": {"epoch": 3}}"#, "recipe: unknown key \"epoch\""),
        (#"{"layers": ["Flatten()", {"fc": "Linear(784, 10)"}, "LogSoftmax()"], "parameters": 12}"#, "\"parameters\" says \"12\", the layers have 7850"),
        (#"{"layers": [], "extra": 1}"#, "unknown key \"extra\""),
        (#"{"layers": [{"a": [[[[[[[[[["ReLU()"]]]]]]]]]]}]}"#, "nested more than 8 deep"),
        (#"{"layers": "#, "not valid JSON"),
        (#"{"layers": [{"a": "Conv2d(1, 4096, 1)"}, {"b": "Conv2d(4096, 1, 28, stride=2, padding=14)"}, "Flatten()", {"fc": "Linear(225, 10)"}, "LogSoftmax()"]}"#,
         "b: the activations reach"),
        (#"{"layers": [{"c": "Conv2d(1, 10, 3)"}, "LogSoftmax(dim=1)", "Flatten()", {"fc": "Linear(6760, 10)"}, "LogSoftmax()"]}"#,
         "net.json: 0: LogSoftmax(dim=1) over a 10×26×26 map"),
        (#"{"layers": [{"c": "Conv2d(1, 10, 28, padding_mode='a\nb')"}, "LogSoftmax()"]}"#, "c: Conv2d: only zero padding is supported"),
        (#"{"layers": ["Flatten()", {"fc": "Linear(784, 10)"}, "LogSoftmax()"], "recipe": {"label_smoothing": 1}}"#,
         "recipe: label_smoothing: expected a fraction between 0 and 1, got 1.0"),
    ])
    func mistakesAreNamedInOneLine(text: String, expected: String) {
        do {
            _ = try ModelFile.parse(text, source: "net.json")
            Issue.record("accepted: \(text)")
        } catch {
            let message = "\(error)"
            #expect(message.hasPrefix("net.json: "), "\(message)")
            #expect(message.contains(expected), "\(message)")
            #expect(!message.contains("\n"), "\(message)")
        }
    }

    /// The recipe's optional settings are written only when set, and read back as they were.
    @Test func optionalRecipeSettingsRoundTrip() throws {
        var definition = try ModelFile.parse(#"{"layers": ["Flatten()", {"fc": "Linear(784, 10)"}, "LogSoftmax()"], "recipe": {"ema": 0.998, "label_smoothing": 0.1}}"#, source: "test")
        #expect(definition.recipe.averagingDecay == 0.998 && definition.recipe.labelSmoothing == 0.1)
        #expect(try ModelFile.parse(ModelFile.text(for: definition), source: "again").recipe == definition.recipe)
        definition = try ModelFile.parse(#"{"layers": ["Flatten()", {"fc": "Linear(784, 10)"}, "LogSoftmax()"], "recipe": {"label_smoothing": 0}}"#, source: "test")
        #expect(definition.recipe.labelSmoothing == nil && !ModelFile.text(for: definition).contains("label_smoothing"))
    }

    /// A file as large as the limit allows, or a device, is refused without reading it all.
    @Test func hugeFilesAreRefused() throws {
        #expect(throws: (any Error).self) { try ModelFile.read("/dev/zero") }
        let path = NSTemporaryDirectory() + "huge-\(UUID().uuidString).json"
        try Data(repeating: 0x20, count: ModelFile.sizeLimit + 1).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        #expect(throws: (any Error).self) { try ModelFile.read(path) }
    }

    /// The candidates docs/experiments.md reports keep reading as the models they were.
    @Test(arguments: [("dsA", 3_600), ("dsB", 3_942), ("dsC", 3_744)])
    func experimentFilesStillRead(name: String, parameters: Int) throws {
        let model = try ModelFile.read(Self.root + "/docs/experiments/\(name).json").makeModel()
        #expect(model.parameterCount == parameters)
    }

    /// The course's rules: s6 passes its own, and fails s7's parameter limit.
    @Test func courseRules() throws {
        let s6 = CourseRules.s6.check(Models.s6)
        #expect(s6.allSatisfy { $0.passed != false }, "\(s6.map(\.line))")
        let s7 = CourseRules.s7.check(Models.s6)
        #expect(s7.first?.passed == false && s7.first?.text.contains("13,452 parameters") == true)
        #expect(CourseRules.s7.check(Models.s7).allSatisfy { $0.passed != false })
        // seed-erav1 has no dropout: the s6 rules say so.
        #expect(CourseRules.s6.check(Models.seedERAv1).contains { $0.passed == false && $0.text.hasPrefix("Dropout") })
        // A Linear after GAP is allowed, and said so.
        let text = #"{"layers": [{"c": "Conv2d(1, 8, 3)"}, "AdaptiveAvgPool2d(1)", "Flatten()", {"fc": "Linear(8, 10)"}, "LogSoftmax()"]}"#
        let checks = CourseRules.s6.check(try ModelFile.parse(text, source: "t"))
        #expect(checks.contains { $0.passed == nil && $0.text == "a fully connected layer after GAP (allowed)" })
        #expect(checks.contains { $0.passed == true && $0.text.hasPrefix("receptive field 28") })
    }
}
