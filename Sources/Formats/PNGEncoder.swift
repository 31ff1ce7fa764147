/// Writes PNG files (8-bit grayscale or RGB/RGBA, no interlace), compressed with zlib.
public enum PNGEncoder {
    public enum ColorType: UInt8 {
        case gray = 0, rgb = 2, rgba = 6
        var channels: Int { self == .gray ? 1 : self == .rgb ? 3 : 4 }
    }

    /// Encodes `pixels` (row-major, `width * height * channels` bytes) as a PNG file.
    public static func encode(width: Int, height: Int, colorType: ColorType, pixels: [UInt8]) -> [UInt8] {
        precondition(width > 0 && height > 0 && pixels.count == width * height * colorType.channels)
        let stride = width * colorType.channels
        // Each row gets filter byte 0 ("None"); zlib does the rest well enough for charts and digits.
        var raw = [UInt8]()
        raw.reserveCapacity((stride + 1) * height)
        for row in 0..<height {
            raw.append(0)
            raw.append(contentsOf: pixels[(row * stride)..<((row + 1) * stride)])
        }
        var header = [UInt8]()
        header.appendBigEndian(UInt32(width))
        header.appendBigEndian(UInt32(height))
        header += [8, colorType.rawValue, 0, 0, 0]

        var file: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
        appendChunk("IHDR", header, to: &file)
        appendChunk("IDAT", Zlib.compress(raw, level: 9), to: &file)
        appendChunk("IEND", [], to: &file)
        return file
    }

    static func appendChunk(_ type: String, _ data: [UInt8], to file: inout [UInt8]) {
        let typeBytes = Array(type.utf8)
        file.appendBigEndian(UInt32(data.count))
        file += typeBytes
        file += data
        file.appendBigEndian(Zlib.crc32(typeBytes + data))
    }
}

extension Array where Element == UInt8 {
    mutating func appendBigEndian(_ value: UInt32) {
        append(UInt8(value >> 24)); append(UInt8((value >> 16) & 0xff))
        append(UInt8((value >> 8) & 0xff)); append(UInt8(value & 0xff))
    }
}
