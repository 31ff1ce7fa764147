import Data
import FuzzSupport

// The pickle inside MNIST's wheel, as the fetch reads it: the stack machine, then the three
// (images, labels) pairs of numpy arrays taken out of it.

@_cdecl("LLVMFuzzerTestOneInput")
public func testOneInput(_ start: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let input = bytes(start, count)
    expectOneLineError { _ = try MNISTFetch.splits(fromPickle: input, source: "fuzz") }
    return 0
}

/// A pickle as Python 2's numpy wrote mnist.pkl: ((x, y), (x, y), (x, y)) with x float32 (n, 784)
/// and y int64 (n), one image each, built opcode by opcode.
func mnistLikePickle() -> [UInt8] {
    func global(_ module: String, _ name: String) -> [UInt8] { [0x63] + Array("\(module)\n\(name)\n".utf8) }
    func short(_ text: String) -> [UInt8] { [0x55, UInt8(text.utf8.count)] + Array(text.utf8) }
    func binstring(_ bytes: [UInt8]) -> [UInt8] {
        var length = UInt32(bytes.count).littleEndian
        return [0x54] + withUnsafeBytes(of: &length) { Array($0) } + bytes
    }
    func int(_ value: Int) -> [UInt8] { value < 256 ? [0x4b, UInt8(value)] : [0x4d, UInt8(value & 0xff), UInt8(value >> 8)] }
    func array(shape: [Int], dtype: String, data: [UInt8]) -> [UInt8] {
        var out = global("numpy.core.multiarray", "_reconstruct") + global("numpy", "ndarray")
        out += [0x4b, 0, 0x85] + short("b") + [0x87, 0x52]                    // _reconstruct(ndarray, (0,), 'b')
        out += [0x28, 0x4b, 1] + shape.flatMap(int) + [shape.count == 1 ? 0x85 : 0x86]
        out += global("numpy", "dtype") + short(dtype) + [0x4b, 0, 0x4b, 1, 0x87, 0x52]
        out += [0x28, 0x4b, 3] + short("<") + [0x4e, 0x4e, 0x4e, 0x4a, 0xff, 0xff, 0xff, 0xff, 0x4a, 0xff, 0xff, 0xff, 0xff, 0x4b, 0, 0x74, 0x62]
        out += [0x89] + binstring(data) + [0x74, 0x62]                        // BUILD with (1, shape, dtype, False, data)
        return out
    }
    let pixels: [Float] = (0..<784).map { Float($0 % 256) / 256 }
    let x = array(shape: [1, 784], dtype: "f4", data: pixels.withUnsafeBufferPointer { Array(UnsafeRawBufferPointer($0)) })
    let label: [Int64] = [7]
    let y = array(shape: [1], dtype: "i8", data: label.withUnsafeBufferPointer { Array(UnsafeRawBufferPointer($0)) })
    let pair = x + y + [0x86]
    return [0x80, 2] + pair + pair + pair + [0x87, 0x2e]
}

@_cdecl("FuzzPickle_main")
public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc, argv, seeds: { [mnistLikePickle()] }, testOneInput)
}
