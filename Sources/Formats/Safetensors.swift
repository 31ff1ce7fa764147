import Foundation

/// A problem with a safetensors file, in one line.
public struct SafetensorsError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// The safetensors format (Hugging Face): an 8-byte little-endian header length N, N bytes of JSON
/// `{"name": {"dtype": "F32", "shape": [...], "data_offsets": [begin, end]}, "__metadata__": {...}}`,
/// then the tensors' bytes, offsets counted from the end of the header. PyTorch reads and writes it
/// with the `safetensors` package, which is how our checkpoints travel to and from the PyTorch twin.
public struct SafetensorsFile {
    public enum DType: String, CaseIterable, Sendable {
        case F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL
        public var size: Int {
            switch self {
            case .F64, .I64: return 8
            case .F32, .I32: return 4
            case .F16, .BF16, .I16: return 2
            case .I8, .U8, .BOOL: return 1
            }
        }
    }

    public struct Tensor: Sendable, Equatable {
        public var name: String
        public var dtype: DType
        public var shape: [Int]
        public var bytes: [UInt8]

        public init(name: String, dtype: DType, shape: [Int], bytes: [UInt8]) {
            self.name = name; self.dtype = dtype; self.shape = shape; self.bytes = bytes
        }

        /// A float32 tensor.
        public init(name: String, shape: [Int], floats: [Float]) {
            self.init(name: name, dtype: .F32, shape: shape,
                      bytes: floats.withUnsafeBufferPointer { Array(UnsafeRawBufferPointer($0)) })
        }

        /// An int64 tensor (PyTorch's `num_batches_tracked`).
        public init(name: String, shape: [Int], integers: [Int64]) {
            self.init(name: name, dtype: .I64, shape: shape,
                      bytes: integers.withUnsafeBufferPointer { Array(UnsafeRawBufferPointer($0)) })
        }

        public var elementCount: Int { shape.reduce(1, *) }

        /// The values as Float, converting from any numeric dtype.
        public func floats() -> [Float] {
            bytes.withUnsafeBytes { raw in
                (0..<elementCount).map { i -> Float in
                    switch dtype {
                    case .F32: return raw.loadUnaligned(fromByteOffset: 4 * i, as: Float.self)
                    case .F64: return Float(raw.loadUnaligned(fromByteOffset: 8 * i, as: Double.self))
                    case .F16: return Float(Float16(bitPattern: raw.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)))
                    case .BF16: return Float(bitPattern: UInt32(raw.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)) << 16)
                    case .I64: return Float(raw.loadUnaligned(fromByteOffset: 8 * i, as: Int64.self))
                    case .I32: return Float(raw.loadUnaligned(fromByteOffset: 4 * i, as: Int32.self))
                    case .I16: return Float(raw.loadUnaligned(fromByteOffset: 2 * i, as: Int16.self))
                    case .I8: return Float(raw.load(fromByteOffset: i, as: Int8.self))
                    case .U8, .BOOL: return Float(raw.load(fromByteOffset: i, as: UInt8.self))
                    }
                }
            }
        }
    }

    public var tensors: [Tensor]
    public var metadata: [String: String]

    public init(tensors: [Tensor], metadata: [String: String] = [:]) {
        self.tensors = tensors
        self.metadata = metadata
    }

    public subscript(name: String) -> Tensor? { tensors.first { $0.name == name } }

    /// The file's bytes: header padded with spaces to a multiple of 8, tensors in the given order.
    public func serialized() -> [UInt8] {
        var entries: [String] = []
        if !metadata.isEmpty {
            let pairs = metadata.keys.sorted().map { "\(quoted($0)):\(quoted(metadata[$0]!))" }
            entries.append("\"__metadata__\":{" + pairs.joined(separator: ",") + "}")
        }
        var offset = 0
        for tensor in tensors {
            let shape = tensor.shape.map(String.init).joined(separator: ",")
            entries.append("\(quoted(tensor.name)):{\"dtype\":\"\(tensor.dtype.rawValue)\",\"shape\":[\(shape)],\"data_offsets\":[\(offset),\(offset + tensor.bytes.count)]}")
            offset += tensor.bytes.count
        }
        var header = Array(("{" + entries.joined(separator: ",") + "}").utf8)
        while header.count % 8 != 0 { header.append(0x20) }
        var out = [UInt8]()
        out.reserveCapacity(8 + header.count + offset)
        var length = UInt64(header.count).littleEndian
        withUnsafeBytes(of: &length) { out += $0 }
        out += header
        for tensor in tensors { out += tensor.bytes }
        return out
    }

    /// Reads a file, checking everything the format promises. `source` names it in errors.
    public static func parse(_ bytes: [UInt8], source: String) throws -> SafetensorsFile {
        func fail(_ why: String) -> SafetensorsError { SafetensorsError("\(source): not a valid safetensors file (\(why))") }
        guard bytes.count >= 8 else { throw fail("\(bytes.count) bytes, too short for the 8-byte header length") }
        let declared = bytes.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }
        guard declared <= 100_000_000, Int(declared) <= bytes.count - 8 else {
            throw fail("header length \(declared) exceeds the file's \(bytes.count) bytes")
        }
        let headerEnd = 8 + Int(declared)
        let json: Any
        do { json = try JSONSerialization.jsonObject(with: Data(bytes[8..<headerEnd])) }
        catch { throw fail("the header is not JSON") }
        guard let object = json as? [String: Any] else { throw fail("the header is not a JSON object") }
        let dataSize = bytes.count - headerEnd
        var metadata: [String: String] = [:]
        var located: [(tensor: Tensor, begin: Int, end: Int)] = []
        for (name, value) in object {
            if name == "__metadata__" {
                guard let map = value as? [String: Any] else { throw fail("__metadata__ is not an object") }
                for (key, item) in map {
                    guard let text = item as? String else { throw fail("__metadata__ value of \(quoted(key)) is not a string") }
                    metadata[key] = text
                }
                continue
            }
            guard let entry = value as? [String: Any] else { throw fail("entry \(quoted(name)) is not an object") }
            guard let dtypeName = entry["dtype"] as? String, let dtype = DType(rawValue: dtypeName) else {
                throw fail("tensor \(quoted(name)) has dtype \(quoted(String(describing: entry["dtype"] ?? "none"))), expected one of \(DType.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            guard let shapeValues = entry["shape"] as? [Any], shapeValues.count <= 8 else { throw fail("tensor \(quoted(name)) has no valid shape") }
            var shape: [Int] = []
            var elements = 1
            for dimension in shapeValues {
                guard let n = (dimension as? NSNumber)?.intValue, n >= 0, n <= 1 << 32 else {
                    throw fail("tensor \(quoted(name)) has a negative or non-integer dimension")
                }
                shape.append(n)
                let (product, overflow) = elements.multipliedReportingOverflow(by: n)
                guard !overflow, product <= 1 << 40 else { throw fail("tensor \(quoted(name)) is impossibly large") }
                elements = product
            }
            guard let offsets = entry["data_offsets"] as? [Any], offsets.count == 2,
                  let begin = (offsets[0] as? NSNumber)?.intValue, let end = (offsets[1] as? NSNumber)?.intValue,
                  begin >= 0, end >= begin, end <= dataSize else {
                throw fail("tensor \(quoted(name)) has data_offsets outside the \(dataSize) data bytes")
            }
            guard end - begin == elements * dtype.size else {
                throw fail("tensor \(quoted(name)) of shape \(shape) and dtype \(dtype.rawValue) needs \(elements * dtype.size) bytes, its offsets give \(end - begin)")
            }
            located.append((Tensor(name: name, dtype: dtype, shape: shape, bytes: []), begin, end))
        }
        located.sort { $0.begin < $1.begin || ($0.begin == $1.begin && $0.end < $1.end) }
        var expected = 0
        for item in located {
            guard item.begin == expected else {
                throw fail(item.begin < expected ? "tensor \(quoted(item.tensor.name)) overlaps another" : "bytes \(expected)..<\(item.begin) belong to no tensor")
            }
            expected = item.end
        }
        guard expected == dataSize else { throw fail("\(dataSize - expected) bytes after the last tensor belong to no tensor") }
        let tensors = located.map { item -> Tensor in
            var tensor = item.tensor
            tensor.bytes = Array(bytes[(headerEnd + item.begin)..<(headerEnd + item.end)])
            return tensor
        }
        return SafetensorsFile(tensors: tensors, metadata: metadata)
    }

    /// The largest file `read` takes (256 MiB): far above any model this engine trains (a
    /// 20,000-parameter model's training state is about 250 kB), far below what would exhaust memory.
    public static let maximumBytes = 1 << 28

    public static func read(path: String) throws -> SafetensorsFile {
        try parse(try BoundedFile.read(path, limit: maximumBytes), source: path)
    }

    /// Writes atomically: a temporary file, flushed, then renamed.
    public func write(to path: String) throws {
        try AtomicFile.write(serialized(), to: path)
    }
}

/// `text` as a JSON string literal: in quotes, with quotes, backslashes and control characters
/// escaped. Also how error messages quote a name read from a file, so that they stay one line.
public func quoted(_ text: String) -> String {
    var out = "\""
    for scalar in text.unicodeScalars {
        switch scalar {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\r": out += "\\r"
        case "\t": out += "\\t"
        default:
            if scalar.value < 0x20 { out += String(format: "\\u%04x", scalar.value) } else { out.unicodeScalars.append(scalar) }
        }
    }
    return out + "\""
}
