import Formats

/// One layer of a model file as the learner writes it: a PyTorch constructor call such as
/// `Conv2d(12, 20, kernel_size=3, bias=False)` or `Dropout(p=0.03)`, parsed and checked against
/// PyTorch's signature before anything is allocated (see docs/model-files.md).
///
/// Grammar: NAME "(" [argument ("," argument)* [","]] ")", an argument being a value or
/// NAME "=" value; a value is an integer, a decimal number, True, False, None, a quoted string
/// or a tuple "(" value, … ")".
struct LayerCall: Sendable {
    enum Value: Equatable, Sendable {
        case integer(Int), number(Double), boolean(Bool), none, text(String)
        indirect case tuple([Value])
    }

    let type: String
    let positional: [Value]
    let keywords: [(name: String, value: Value)]

    /// The layers a model file may use, with PyTorch's parameter names in order.
    static let signatures: KeyValuePairs<String, [String]> = [
        "Conv2d": ["in_channels", "out_channels", "kernel_size", "stride", "padding", "dilation", "groups", "bias", "padding_mode"],
        "BatchNorm2d": ["num_features", "eps", "momentum", "affine", "track_running_stats"],
        "ReLU": ["inplace"],
        "Sigmoid": [],
        "Dropout": ["p", "inplace"],
        "Dropout2d": ["p", "inplace"],
        "MaxPool2d": ["kernel_size", "stride", "padding", "dilation", "return_indices", "ceil_mode"],
        "AvgPool2d": ["kernel_size", "stride", "padding", "ceil_mode", "count_include_pad", "divisor_override"],
        "AdaptiveAvgPool2d": ["output_size"],
        "Flatten": ["start_dim", "end_dim"],
        "Linear": ["in_features", "out_features", "bias"],
        "LogSoftmax": ["dim"],
    ]

    /// The longest layer text read (a Conv2d with every argument spelt out fits well within).
    static let maximumLength = 300
    /// Sizes a layer may have: channels and features, kernels, strides, padding, dilation.
    static let channelLimit = 1...4096, featureLimit = 1...1_000_000, kernelLimit = 1...28
    static let strideLimit = 1...8, paddingLimit = 0...14, dilationLimit = 1...14

    /// Parses `text`; errors name the text and what was expected, in one line.
    init(parsing text: String) throws {
        guard text.utf8.count <= Self.maximumLength else {
            throw ModelError("a layer of \(text.utf8.count) characters; expected at most \(Self.maximumLength)")
        }
        var reader = Reader(Array(text.utf8), text: text)
        reader.skipSpaces()
        let type = try reader.identifier("a layer such as Conv2d(1, 8, kernel_size=3)")
        guard Self.signatures.contains(where: { $0.key == type }) else {
            throw ModelError("unknown layer \(quoted(type)) in \(quoted(text)); expected one of \(Self.signatures.map(\.key).joined(separator: ", "))")
        }
        try reader.expect(UInt8(ascii: "("))
        var positional: [Value] = [], keywords: [(String, Value)] = []
        while !reader.accept(UInt8(ascii: ")")) {
            if let name = reader.keyword() {
                guard !keywords.contains(where: { $0.0 == name }) else { throw reader.failure("\(name) given twice") }
                keywords.append((name, try reader.value(depth: 0)))
            } else {
                guard keywords.isEmpty else { throw reader.failure("a positional argument after a keyword one") }
                positional.append(try reader.value(depth: 0))
            }
            if !reader.accept(UInt8(ascii: ",")) {
                try reader.expect(UInt8(ascii: ")"))
                break
            }
        }
        reader.skipSpaces()
        guard reader.atEnd else { throw reader.failure("nothing after the closing parenthesis") }
        self.type = type
        self.positional = positional
        self.keywords = keywords
    }

    /// The arguments by PyTorch's parameter names, positional ones matched in order.
    func arguments() throws -> [String: Value] {
        let names = Self.signatures.first { $0.key == type }!.value
        guard positional.count <= names.count else {
            throw ModelError("\(type) takes at most \(names.count) positional arguments, got \(positional.count)")
        }
        var arguments: [String: Value] = [:]
        for (name, value) in zip(names, positional) { arguments[name] = value }
        for (name, value) in keywords {
            guard names.contains(name) else {
                throw ModelError("\(type) has no argument \(quoted(name)); its arguments are \(names.joined(separator: ", "))")
            }
            guard arguments[name] == nil else { throw ModelError("\(type): \(name) given twice") }
            arguments[name] = value
        }
        return arguments
    }

    /// The engine's layer for this call, every argument checked; throws for what the engine does
    /// not do (e.g. overlapping pooling windows), saying what it does.
    func layer() throws -> Layer {
        let a = Arguments(type: type, values: try arguments())
        switch type {
        case "Conv2d":
            try a.require("padding_mode", equals: .text("zeros"), "only zero padding is supported")
            let inChannels = try a.integer("in_channels", in: Self.channelLimit)
            let outChannels = try a.integer("out_channels", in: Self.channelLimit)
            let kernel = try a.square("kernel_size", in: Self.kernelLimit)
            let stride = try a.square("stride", in: Self.strideLimit, default: 1)
            let padding = try a.square("padding", in: Self.paddingLimit, default: 0)
            let dilation = try a.square("dilation", in: Self.dilationLimit, default: 1)
            let groups = try Self.groups(a, inChannels, outChannels)
            return Conv2d(inChannels, outChannels, kernelSize: kernel, stride: stride, padding: padding, dilation: dilation,
                          groups: groups, bias: try a.boolean("bias", default: true))
        case "BatchNorm2d":
            try a.require("affine", equals: .boolean(true), "BatchNorm2d must be affine")
            try a.require("track_running_stats", equals: .boolean(true), "BatchNorm2d must track running statistics")
            return BatchNorm2d(try a.integer("num_features", in: Self.channelLimit),
                               momentum: try a.number("momentum", in: 0...1, default: 0.1),
                               epsilon: try a.number("eps", in: 1e-12...1, default: 1e-5))
        case "ReLU": return ReLU()
        case "Sigmoid": return Sigmoid()
        case "Dropout", "Dropout2d":
            let p = try a.number("p", in: 0...0.99, default: 0.5)
            return Dropout(p, wholeChannels: type == "Dropout2d")
        case "MaxPool2d", "AvgPool2d":
            let kernel = try a.square("kernel_size", in: Self.kernelLimit)
            if let stride = a.values["stride"], stride != .none {
                guard try a.square("stride", in: Self.kernelLimit) == kernel else {
                    throw ModelError("\(type): only windows that do not overlap are supported (stride equal to kernel_size \(kernel))")
                }
            }
            try a.require("padding", equals: .integer(0), "padding is not supported")
            try a.require("ceil_mode", equals: .boolean(false), "ceil_mode is not supported")
            if type == "MaxPool2d" {
                try a.require("dilation", equals: .integer(1), "dilation is not supported")
                try a.require("return_indices", equals: .boolean(false), "return_indices is not supported")
                return MaxPool2d(kernel)
            }
            try a.require("divisor_override", equals: .none, "divisor_override is not supported")
            return AvgPool2d(kernel)
        case "AdaptiveAvgPool2d":
            guard try a.square("output_size", in: 1...1) == 1 else { throw ModelError("unreachable") }
            return GlobalAvgPool2d()
        case "Flatten":
            try a.require("start_dim", equals: .integer(1), "only Flatten(start_dim=1) is supported")
            try a.require("end_dim", equals: .integer(-1), "only Flatten(end_dim=-1) is supported")
            return Flatten()
        case "Linear":
            return Linear(try a.integer("in_features", in: Self.featureLimit), try a.integer("out_features", in: Self.featureLimit),
                          bias: try a.boolean("bias", default: true))
        case "LogSoftmax":
            let dim = try a.integer("dim", in: -1...1, default: 1)
            guard dim == 1 || dim == -1 else { throw ModelError("LogSoftmax: dim must be 1 (the classes), got \(dim)") }
            return LogSoftmax()
        default:
            throw ModelError("unknown layer \(quoted(type))")
        }
    }

    /// Conv2d's groups, which must divide both channel counts.
    private static func groups(_ a: Arguments, _ inChannels: Int, _ outChannels: Int) throws -> Int {
        let groups = try a.integer("groups", in: channelLimit, default: 1)
        guard inChannels % groups == 0 && outChannels % groups == 0 else {
            throw ModelError("Conv2d: groups=\(groups) must divide in_channels (\(inChannels)) and out_channels (\(outChannels))")
        }
        return groups
    }

    /// The parameters the layer will have, counted before it is made (so that a 10⁹-parameter
    /// model is refused without allocating it). Arguments are within their limits by then.
    func parameterCount() throws -> Int {
        let a = Arguments(type: type, values: try arguments())
        switch type {
        case "Conv2d":
            let i = try a.integer("in_channels", in: Self.channelLimit), o = try a.integer("out_channels", in: Self.channelLimit)
            let k = try a.square("kernel_size", in: Self.kernelLimit)
            return o * (i / (try Self.groups(a, i, o))) * k * k + (try a.boolean("bias", default: true) ? o : 0)
        case "BatchNorm2d": return 2 * (try a.integer("num_features", in: Self.channelLimit))
        case "Linear":
            let i = try a.integer("in_features", in: Self.featureLimit), o = try a.integer("out_features", in: Self.featureLimit)
            return o * i + (try a.boolean("bias", default: true) ? o : 0)
        default: return 0
        }
    }
}

/// A call's arguments by name, read as the types PyTorch takes.
private struct Arguments {
    let type: String
    let values: [String: LayerCall.Value]

    func integer(_ name: String, in range: ClosedRange<Int>, default fallback: Int? = nil) throws -> Int {
        guard let value = values[name] else {
            guard let fallback else { throw ModelError("\(type): \(name) is missing") }
            return fallback
        }
        guard case let .integer(n) = value, range.contains(n) else {
            throw ModelError("\(type): \(name) must be a whole number from \(range.lowerBound) to \(range.upperBound), got \(value)")
        }
        return n
    }

    /// A size PyTorch takes as one number or a pair, which must be equal here (square windows).
    func square(_ name: String, in range: ClosedRange<Int>, default fallback: Int? = nil) throws -> Int {
        if case let .tuple(items) = values[name] {
            guard items.count == 2, items[0] == items[1], case .integer = items[0] else {
                throw ModelError("\(type): \(name) must be one number or a pair of equal numbers (square windows), got \(values[name]!)")
            }
            return try Arguments(type: type, values: [name: items[0]]).integer(name, in: range)
        }
        return try integer(name, in: range, default: fallback)
    }

    func number(_ name: String, in range: ClosedRange<Double>, default fallback: Double) throws -> Float {
        let value: Double
        switch values[name] {
        case nil: value = fallback
        case let .number(x)?: value = x
        case let .integer(n)?: value = Double(n)
        case let other?: throw ModelError("\(type): \(name) must be a number, got \(other)")
        }
        guard range.contains(value) else {
            throw ModelError("\(type): \(name) must be from \(range.lowerBound) to \(range.upperBound), got \(value)")
        }
        return Float(value)
    }

    func boolean(_ name: String, default fallback: Bool) throws -> Bool {
        switch values[name] {
        case nil: return fallback
        case let .boolean(b)?: return b
        case let other?: throw ModelError("\(type): \(name) must be True or False, got \(other)")
        }
    }

    /// An argument the engine supports only at one value (PyTorch's default, or given as it).
    func require(_ name: String, equals expected: LayerCall.Value, _ reason: String) throws {
        guard let value = values[name], value != expected else { return }
        if case let .tuple(items) = value, items.allSatisfy({ $0 == expected }) { return }
        throw ModelError("\(type): \(reason) (\(name)=\(value))")
    }
}

extension LayerCall.Value: CustomStringConvertible {
    var description: String {
        switch self {
        case let .integer(n): return String(n)
        case let .number(x): return String(x)
        case let .boolean(b): return b ? "True" : "False"
        case .none: return "None"
        case let .text(s): return quoted(s)
        case let .tuple(items): return "(" + items.map(\.description).joined(separator: ", ") + ")"
        }
    }
}

/// A cursor over a layer's text.
private struct Reader {
    let bytes: [UInt8]
    let text: String
    var position = 0

    init(_ bytes: [UInt8], text: String) { self.bytes = bytes; self.text = text }

    var atEnd: Bool { position == bytes.count }

    func failure(_ what: String) -> ModelError {
        ModelError("cannot read the layer \(quoted(text)): \(what) at character \(position + 1)")
    }

    mutating func skipSpaces() {
        while position < bytes.count, bytes[position] == 0x20 || bytes[position] == 0x09 { position += 1 }
    }

    mutating func accept(_ byte: UInt8) -> Bool {
        skipSpaces()
        guard position < bytes.count, bytes[position] == byte else { return false }
        position += 1
        return true
    }

    mutating func expect(_ byte: UInt8) throws {
        guard accept(byte) else { throw failure("expected \(quoted(String(UnicodeScalar(byte))))") }
    }

    private static func isLetter(_ b: UInt8) -> Bool { (b | 0x20) >= 0x61 && (b | 0x20) <= 0x7a || b == 0x5f }
    private static func isDigit(_ b: UInt8) -> Bool { b >= 0x30 && b <= 0x39 }

    mutating func identifier(_ expected: String) throws -> String {
        skipSpaces()
        let start = position
        while position < bytes.count, Self.isLetter(bytes[position]) || (position > start && Self.isDigit(bytes[position])) {
            position += 1
        }
        guard position > start else { throw failure("expected \(expected)") }
        return String(decoding: bytes[start..<position], as: UTF8.self)
    }

    /// `name =` if the next argument is a keyword argument (the cursor moves past it), else nil.
    mutating func keyword() -> String? {
        let saved = position
        if let name = try? identifier("a name"), accept(UInt8(ascii: "=")), !["True", "False", "None"].contains(name) {
            return name
        }
        position = saved
        return nil
    }

    mutating func value(depth: Int) throws -> LayerCall.Value {
        skipSpaces()
        guard position < bytes.count else { throw failure("expected a value") }
        let b = bytes[position]
        if b == UInt8(ascii: "(") {
            guard depth < 2 else { throw failure("tuples nested too deep") }
            position += 1
            var items: [LayerCall.Value] = []
            while !accept(UInt8(ascii: ")")) {
                items.append(try value(depth: depth + 1))
                guard items.count <= 4 else { throw failure("a tuple of more than 4 values") }
                if !accept(UInt8(ascii: ",")) { try expect(UInt8(ascii: ")")); break }
            }
            return .tuple(items)
        }
        if b == UInt8(ascii: "'") || b == UInt8(ascii: "\"") {
            position += 1
            let start = position
            while position < bytes.count, bytes[position] != b { position += 1 }
            guard position < bytes.count else { throw failure("a string without its closing quote") }
            defer { position += 1 }
            return .text(String(decoding: bytes[start..<position], as: UTF8.self))
        }
        if Self.isLetter(b) {
            switch try identifier("a value") {
            case "True": return .boolean(true)
            case "False": return .boolean(false)
            case "None": return .none
            case let word: throw failure("expected a value, found \(quoted(word))")
            }
        }
        let start = position
        if b == UInt8(ascii: "-") || b == UInt8(ascii: "+") { position += 1 }
        while position < bytes.count, Self.isDigit(bytes[position]) || [UInt8(ascii: "."), UInt8(ascii: "e"), UInt8(ascii: "E")].contains(bytes[position])
                || ((bytes[position] == UInt8(ascii: "-") || bytes[position] == UInt8(ascii: "+")) && (bytes[position - 1] | 0x20) == UInt8(ascii: "e")) {
            position += 1
        }
        let word = String(decoding: bytes[start..<position], as: UTF8.self)
        if let n = Int(word) { return .integer(n) }
        if let x = Double(word), x.isFinite { return .number(x) }
        throw failure(word.isEmpty ? "expected a value" : "\(quoted(word)) is not a number")
    }
}
