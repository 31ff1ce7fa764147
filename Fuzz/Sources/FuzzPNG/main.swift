import Data
import Formats
import FuzzSupport

// An image as `backprop predict` takes it: decoded, then centred into a 28×28 digit. Every chunk
// of a PNG carries a CRC, so almost every mutation would be refused at the first chunk; the
// harness also tries each input with its CRCs made right, to reach the decoding behind them.

@_cdecl("LLVMFuzzerTestOneInput")
public func testOneInput(_ start: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let input = bytes(start, count)
    for candidate in [input, withCorrectCRCs(input)] {
        expectOneLineError { _ = try DigitPreprocessing.mnistLike(try ImageReader.decodePNG(candidate, source: "fuzz"), source: "fuzz") }
    }
    return 0
}

/// The PNG with each whole chunk's CRC (over its type and data) recomputed.
func withCorrectCRCs(_ png: [UInt8]) -> [UInt8] {
    var out = png
    var position = 8
    while position + 12 <= out.count {
        let length = Int(out[position]) << 24 | Int(out[position + 1]) << 16 | Int(out[position + 2]) << 8 | Int(out[position + 3])
        let end = position + 8 + length
        guard length >= 0, end + 4 <= out.count else { break }
        let crc = Zlib.crc32(Array(out[(position + 4)..<end]))
        for i in 0..<4 { out[end + i] = UInt8((crc >> (24 - 8 * UInt32(i))) & 0xff) }
        position = end + 4
    }
    return out
}

@_cdecl("FuzzPNG_main")
public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc, argv, seeds: {
        let stroke = (0..<(12 * 10)).map { UInt8($0 % 12 == 5 || $0 % 12 == 6 ? 20 : 240) }   // a dark bar on white
        return [PNGEncoder.encode(width: 12, height: 10, colorType: .gray, pixels: stroke),
                PNGEncoder.encode(width: 3, height: 4, colorType: .rgba, pixels: (0..<48).map { UInt8($0 * 5) }),
                PNGEncoder.encode(width: 4, height: 3, colorType: .rgb, pixels: (0..<36).map { UInt8($0 * 7) })]
    }, testOneInput)
}
