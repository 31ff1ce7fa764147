import Data
import Formats
import FuzzSupport

// A PGM image (P2 or P5) as `backprop predict` takes it: decoded, then centred into a 28×28 digit.

@_cdecl("LLVMFuzzerTestOneInput")
public func testOneInput(_ start: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let input = bytes(start, count)
    expectOneLineError { _ = try DigitPreprocessing.mnistLike(try ImageReader.decodePGM(input, source: "fuzz"), source: "fuzz") }
    return 0
}

@_cdecl("FuzzPGM_main")
public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc, argv, seeds: {
        [Array("P5\n4 3\n255\n".utf8) + (0..<12).map { UInt8($0 * 20) },
         Array("P2\n# a comment\n3 2\n15\n0 15 0\n15 0 15\n".utf8),
         Array("P5 2 2 65535 ".utf8) + [0, 1, 255, 255, 128, 0, 0, 9]]
    }, testOneInput)
}
