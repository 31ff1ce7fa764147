/// A small, safe reader for the one kind of Python pickle MNIST ships in: protocol 2, written by
/// Python 2, holding tuples of numpy arrays. It runs the pickle's stack machine over the opcodes
/// such files use and builds values from them; it never calls anything. `numpy` arrays come out as
/// their shape, dtype and the location of their raw bytes (not copied). At most
/// `maximumContainers` tuples and list items are built (MNIST's pickle has a few dozen): a pickle
/// nesting millions of them would otherwise overflow the stack when they are freed.
public enum Pickle {
    public static let maximumContainers = 10_000
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
    }

    /// Parses `data` and returns the pickled object. Throws `DataError` on anything unexpected.
    public static func load(_ data: [UInt8], source: String) throws -> Value {
        var stack: [Value] = []
        var memo: [Int: Value] = [:]
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
        func pop() throws -> Value {
            guard let value = stack.popLast() else { throw fail("stack underflow") }
            return value
        }
        /// Counts one more tuple or list against the limit.
        func container() throws {
            containers += 1
            guard containers <= maximumContainers else {
                throw fail("more than \(maximumContainers) tuples and lists, far more than a data set's pickle holds")
            }
        }
        func popToMark() throws -> [Value] {
            guard let markIndex = stack.lastIndex(of: .mark) else { throw fail("no mark") }
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
                stack.append(.global("\(module) \(name)"))
            case 0x71: memo[try littleEndian(1)] = stack.last          // BINPUT
            case 0x72: memo[try littleEndian(4)] = stack.last          // LONG_BINPUT
            case 0x68, 0x6a:                                           // BINGET, LONG_BINGET
                let key = try littleEndian(opcode == 0x68 ? 1 : 4)
                guard let value = memo[key] else { throw fail("unknown memo \(key)") }
                stack.append(value)
            case 0x4b: stack.append(.int(try littleEndian(1)))         // BININT1
            case 0x4d: stack.append(.int(try littleEndian(2)))         // BININT2
            case 0x4a: stack.append(.int(Int(Int32(truncatingIfNeeded: try littleEndian(4)))))  // BININT
            case 0x55: stack.append(.string(try bytesRange(try littleEndian(1))))  // SHORT_BINSTRING
            case 0x54: stack.append(.string(try bytesRange(try littleEndian(4))))  // BINSTRING
            case 0x58:                                                 // BINUNICODE
                let range = try bytesRange(try littleEndian(4))
                stack.append(.unicode(String(decoding: data[range], as: UTF8.self)))
            case 0x4e: stack.append(.none)                             // NONE
            case 0x88: stack.append(.bool(true))                       // NEWTRUE
            case 0x89: stack.append(.bool(false))                      // NEWFALSE
            case 0x28: stack.append(.mark)                             // MARK
            case 0x29: try container(); stack.append(.tuple([]))                       // EMPTY_TUPLE
            case 0x74: try container(); stack.append(.tuple(try popToMark()))          // TUPLE
            case 0x85: try container(); stack.append(.tuple([try pop()]))              // TUPLE1
            case 0x86: try container(); let b = try pop(), a = try pop(); stack.append(.tuple([a, b]))   // TUPLE2
            case 0x87:                                                                                  // TUPLE3
                try container(); let c = try pop(), b = try pop(), a = try pop(); stack.append(.tuple([a, b, c]))
            case 0x5d: try container(); stack.append(.list([]))                        // EMPTY_LIST
            case 0x61:                                                 // APPEND
                try container()   // a list may hold a list: each append counts, as each tuple does
                let item = try pop()
                guard case .list(var items) = try pop() else { throw fail("APPEND to a non-list") }
                items.append(item); stack.append(.list(items))
            case 0x65:                                                 // APPENDS
                let items = try popToMark()
                for _ in items { try container() }
                guard case .list(var list) = try pop() else { throw fail("APPENDS to a non-list") }
                list += items; stack.append(.list(list))
            case 0x52:                                                 // REDUCE
                let arguments = try pop(), callable = try pop()
                switch (callable, arguments) {
                case (.global("numpy.core.multiarray _reconstruct"), _):
                    stack.append(.pendingArray)
                case (.global("numpy dtype"), .tuple(let args)) where !args.isEmpty:
                    guard let code = text(args[0]) else { throw fail("dtype without a type code") }
                    stack.append(.dtype(code, byteOrder: "|"))
                default:
                    throw fail("refusing to call \(callable)")
                }
            case 0x62:                                                 // BUILD
                let state = try pop(), object = try pop()
                switch (object, state) {
                case (.dtype(let code, _), .tuple(let fields)) where fields.count >= 2:
                    stack.append(.dtype(code, byteOrder: text(fields[1]) ?? "|"))
                case (.pendingArray, .tuple(let fields)) where fields.count == 5:
                    guard case .tuple(let dimensions) = fields[1],
                          case .dtype(let code, let order) = fields[2],
                          case .string(let range) = fields[4] else { throw fail("unexpected ndarray state") }
                    let shape = try dimensions.map { value -> Int in
                        guard case .int(let n) = value, n >= 0 else { throw fail("bad array shape") }
                        return n
                    }
                    guard order == "<" || order == "|" else { throw fail("byte order \(order) is not little-endian") }
                    if case .bool(true) = fields[3] { throw fail("Fortran-ordered arrays are not supported") }
                    stack.append(.array(NumpyArray(shape: shape, dtype: code, bytes: range)))
                default:
                    throw fail("BUILD of an unexpected object")
                }
            default:
                throw fail("unsupported opcode 0x\(String(opcode, radix: 16))")
            }
        }
    }
}
