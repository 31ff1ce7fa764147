import Formats
import FuzzSupport

// gzip (IDX files, the MNIST pickle) and zlib (PNG's image data) through the system's zlib.

@_cdecl("LLVMFuzzerTestOneInput")
public func testOneInput(_ start: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let input = bytes(start, count)
    expectOneLineError { _ = try Zlib.gunzip(input, limit: 1 << 20) }
    expectOneLineError { _ = try Zlib.decompress(input, limit: 1 << 20) }
    return 0
}

@_cdecl("FuzzGzip_main")
public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc, argv, seeds: {
        let text = Array("backpropagation, layer by layer, ".utf8)
        return [Zlib.gzip(text + text), Zlib.gzip(text) + Zlib.gzip(text), Zlib.compress(text + [0, 1, 2, 3])]
    }, testOneInput)
}
