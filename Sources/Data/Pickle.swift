import Formats

/// A small, safe reader for the one kind of Python pickle MNIST ships in: protocol 2, written by
/// Python 2, holding tuples of numpy arrays. It runs the pickle's stack machine over the opcodes
/// such files use and builds values from them; it never calls anything. `numpy` arrays come out as
/// their shape, dtype and the location of their raw bytes (not copied). Values nest at most
/// `maximumDepth` deep, and at most `maximumContainers` tuples and list items are built (MNIST's
/// pickle nests 5 deep and has a few dozen): code that walks a value (freeing it, printing it)
/// recurses once per level, so a pickle nesting thousands would overflow the stack.
public enum Pickle {
    public static let maximumContainers = 10_000
    public static let maximumDepth = 32
    public struct NumpyArray: Equatable {
        public var shape: [Int]
        /// numpy's type code, e.g. "f4" (float32) or "i8" (int64); byte order is '<' (checked).
        public var dtype: String
        /// Where the array's raw bytes sit in the pickle.
        public var bytes: Range<Int>
    }

    public indirect enum Value: Equatable {
        case none
        case bool(Bool)
        case int(Int)
        case string(Range<Int>)          // Python 2 str: raw bytes, located in the pickle
        case unicode(String)
        case tuple([Value])
        case list([Value])
        case global(String)              // "module name"
        case dtype(String, byteOrder: String)
        case array(NumpyArray)
        case pendingArray                // _reconstruct called, BUILD not yet applied
        case mark

        /// What kind of value this is, in a few words (never the value itself, which may be deep).
        var kind: String {
            switch self {
            case .none: return "None"
            case .bool: return "a bool"
            case .int: return "an int"
            case .string, .unicode: return "a string"
            case .tuple(let items): return "a tuple of \(items.count)"
            case .list(let items): return "a list of \(items.count)"
            case .global(let name): return "global " + quoted(name)
            case .dtype: return "a dtype"
            case .array: return "an array"
            case .pendingArray: return "an array being built"
            case .mark: return "a mark"
            }
        }
    }

    /// A value on the machine's stack, with how deep it nests (0 for a value with no parts).
    typealias Entry = (value: Value, depth: Int)

    /// Parses `data` and returns the pickled object. Throws `DataError` on anything unexpected.
    public static func load(_ data: [UInt8], source: String) throws -> Value {
        var stack: [Entry] = []
        var memo: [Int: Entry] = [:]
        var position = 0
        var containers = 0
        func fail(_ why: String) -> DataError { DataError("\(source): unreadable pickle (\(why) at byte \(position))") }
        func byte() throws -> UInt8 {
            guard position < data.count else { throw fail("unexpected end") }
            defer { position += 1 }
            return data[position]
        }
        func littleEndian(_ count: Int) throws -> Int {
            guard position + count <= data.count else { throw fail("unexpected end") }
            var value = 0
            for i in 0..<count { value |= Int(data[position + i]) << (8 * i) }
            position += count
            return value
        }
        func line() throws -> String {
            guard let end = data[position...].firstIndex(of: 0x0a) else { throw fail("unterminated line") }
            defer { position = end + 1 }
            return String(decoding: data[position..<end], as: UTF8.self)
        }
        func pop() throws -> Value { try popEntry().value }
        func popEntry() throws -> Entry {
            guard let entry = stack.popLast() else { throw fail("stack underflow") }
            return entry
        }
        func push(_ value: Value) { stack.append((value, 0)) }
        /// Pushes a tuple or list holding `items` (and, for a list grown by appending, what it held
        /// at `depth` already): one level deeper than the deepest of them.
        func pushContainer(_ value: Value, of items: [Entry], depth held: Int = 0) throws {
            let depth = max(held, 1 + (items.map(\.depth).max() ?? 0))
            guard depth <= maximumDepth else {
                throw fail("values nested more than \(maximumDepth) deep, far deeper than a data set's pickle")
            }
            stack.append((value, depth))
        }
        /// Counts one more tuple or list against the limit.
        func container() throws {
            containers += 1
            guard containers <= maximumContainers else {
                throw fail("more than \(maximumContainers) tuples and lists, far more than a data set's pickle holds")
            }
        }
        func popToMark() throws -> [Entry] {
            guard let markIndex = stack.lastIndex(where: { $0.value == .mark }) else { throw fail("no mark") }
            let items = Array(stack[(markIndex + 1)...])
            stack.removeSubrange(markIndex...)
            return items
        }
        func bytesRange(_ length: Int) throws -> Range<Int> {
            guard length >= 0, position + length <= data.count else { throw fail("string runs past the end") }
            defer { position += length }
            return position..<(position + length)
        }
        func text(_ value: Value) -> String? {
            switch value {
            case .string(let range): return String(decoding: data[range], as: UTF8.self)
            case .unicode(let text): return text
            default: return nil
            }
        }

        while true {
            guard stack.count <= maximumContainers && memo.count <= maximumContainers else {
                throw fail("more than \(maximumContainers) values held at once, far more than a data set's pickle holds")
            }
            let opcode = try byte()
            switch opcode {
            case 0x80: _ = try byte()                                  // PROTO
            case 0x2e: return try pop()                                // STOP
            case 0x63:                                                 // GLOBAL
                let module = try line(), name = try line()
                push(.global("\(module) \(name)"))
            case 0x71: memo[try littleEndian(1)] = stack.last          // BINPUT
            case 0x72: memo[try littleEndian(4)] = stack.last          // LONG_BINPUT
            case 0x68, 0x6a:                                           // BINGET, LONG_BINGET
                let key = try littleEndian(opcode == 0x68 ? 1 : 4)
                guard let entry = memo[key] else { throw fail("unknown memo \(key)") }
                stack.append(entry)
            case 0x4b: push(.int(try littleEndian(1)))                 // BININT1
            case 0x4d: push(.int(try littleEndian(2)))                 // BININT2
            case 0x4a: push(.int(Int(Int32(truncatingIfNeeded: try littleEndian(4)))))  // BININT
            case 0x55: push(.string(try bytesRange(try littleEndian(1))))  // SHORT_BINSTRING
            case 0x54: push(.string(try bytesRange(try littleEndian(4))))  // BINSTRING
            case 0x58:                                                 // BINUNICODE
                let range = try bytesRange(try littleEndian(4))
                push(.unicode(String(decoding: data[range], as: UTF8.self)))
            case 0x4e: push(.none)                                     // NONE
            case 0x88: push(.bool(true))                               // NEWTRUE
            case 0x89: push(.bool(false))                              // NEWFALSE
            case 0x28: push(.mark)                                     // MARK
            case 0x29, 0x74, 0x85, 0x86, 0x87:                         // EMPTY_TUPLE, TUPLE, TUPLE1, TUPLE2, TUPLE3
                try container()
                let items: [Entry]
                switch opcode {
                case 0x29: items = []
                case 0x74: items = try popToMark()
                default: items = try (0..<Int(opcode - 0x84)).map { _ in try popEntry() }.reversed()
                }
                try pushContainer(.tuple(items.map(\.value)), of: items)
            case 0x5d: try container(); try pushContainer(.list([]), of: [])   // EMPTY_LIST
            case 0x61, 0x65:                                           // APPEND, APPENDS
                let items = opcode == 0x61 ? [try popEntry()] : try popToMark()
                for _ in items { try container() }   // a list may hold a list: each item counts, as each tuple does
                let list = try popEntry()
                guard case .list(let values) = list.value else { throw fail("APPEND to \(list.value.kind), not a list") }
                try pushContainer(.list(values + items.map(\.value)), of: items, depth: list.depth)
            case 0x52:                                                 // REDUCE
                let arguments = try pop(), callable = try pop()
                switch (callable, arguments) {
                case (.global("numpy.core.multiarray _reconstruct"), _):
                    push(.pendingArray)
                case (.global("numpy dtype"), .tuple(let args)) where !args.isEmpty:
                    guard let code = text(args[0]) else { throw fail("dtype without a type code") }
                    push(.dtype(code, byteOrder: "|"))
                default:
                    throw fail("refusing to call \(callable.kind)")
                }
            case 0x62:                                                 // BUILD
                let state = try pop(), object = try pop()
                switch (object, state) {
                case (.dtype(let code, _), .tuple(let fields)) where fields.count >= 2:
                    push(.dtype(code, byteOrder: text(fields[1]) ?? "|"))
                case (.pendingArray, .tuple(let fields)) where fields.count == 5:
                    guard case .tuple(let dimensions) = fields[1],
                          case .dtype(let code, let order) = fields[2],
                          case .string(let range) = fields[4] else { throw fail("unexpected ndarray state") }
                    let shape = try dimensions.map { value -> Int in
                        guard case .int(let n) = value, n >= 0 else { throw fail("bad array shape") }
                        return n
                    }
                    guard order == "<" || order == "|" else { throw fail("byte order \(quoted(order)) is not little-endian") }
                    if case .bool(true) = fields[3] { throw fail("Fortran-ordered arrays are not supported") }
                    push(.array(NumpyArray(shape: shape, dtype: code, bytes: range)))
                default:
                    throw fail("BUILD of \(object.kind)")
                }
            default:
                throw fail("unsupported opcode 0x\(String(opcode, radix: 16))")
            }
        }
    }
}
