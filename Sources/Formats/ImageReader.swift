import Foundation

/// A problem reading an image, in one line.
public struct ImageError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// A decoded image as grey levels 0…1 (0 black, 1 white), row-major.
public struct GrayImage: Sendable {
    public let width: Int
    public let height: Int
    public let pixels: [Float]
    public init(width: Int, height: Int, pixels: [Float]) {
        self.width = width; self.height = height; self.pixels = pixels
    }
}

/// Reads PNG (any colour type and bit depth, not interlaced) and PGM (P2, P5) files into grey
/// levels. Colour is converted by luminance; transparent pixels are composited onto white.
/// Hostile files are refused with a one-line error: dimensions are capped before allocating.
public enum ImageReader {
    public static let maximumPixels = 40_000_000
    public static let maximumSide = 16_384

    /// The largest image file `read` takes (a photo of a digit is a few megabytes).
    public static let maximumBytes = 64 << 20

    public static func read(path: String) throws -> GrayImage {
        let bytes: [UInt8]
        do { bytes = try BoundedFile.read(path, limit: maximumBytes) } catch { throw ImageError("\(error)") }
        return try decode(bytes, source: path)
    }

    /// Decodes a PNG or PGM file's bytes (at most `maximumBytes`), telling them apart by their
    /// first bytes; `source` names them in errors. An image of more than `pixelLimit` pixels is
    /// refused from its header, before anything is allocated for it.
    public static func decode(_ bytes: [UInt8], source path: String, pixelLimit: Int = maximumPixels) throws -> GrayImage {
        guard bytes.count <= maximumBytes else {
            throw ImageError("\(path): \(bytes.count) bytes is more than an image we read (\(maximumBytes >> 20) MiB)")
        }
        if bytes.starts(with: [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) { return try decodePNG(bytes, source: path, pixelLimit: pixelLimit) }
        if bytes.count >= 2 && bytes[0] == 0x50 && (bytes[1] == 0x32 || bytes[1] == 0x35) { return try decodePGM(bytes, source: path, pixelLimit: pixelLimit) }
        let start = bytes.prefix(4).map { String(format: "%02x", $0) }.joined(separator: " ")
        throw ImageError("\(path): not a PNG or PGM image (starts with \(start.isEmpty ? "nothing" : start))")
    }

    static func checkSize(_ width: Int, _ height: Int, _ source: String, pixelLimit: Int) throws {
        guard width > 0, height > 0, width <= maximumSide, height <= maximumSide, width * height <= pixelLimit else {
            throw ImageError("\(source): \(width)×\(height) pixels is outside what we read (1 to \(maximumSide) per side, \(pixelLimit) in all)")
        }
    }

    // MARK: PGM

    public static func decodePGM(_ bytes: [UInt8], source: String, pixelLimit: Int = maximumPixels) throws -> GrayImage {
        guard bytes.count >= 2, bytes[0] == 0x50, bytes[1] == 0x32 || bytes[1] == 0x35 else {
            throw ImageError("\(source): not a PGM image (expected P2 or P5 at the start)")
        }
        var position = 2
        func token() throws -> Int {
            while position < bytes.count {
                if bytes[position] == 0x23 { while position < bytes.count && bytes[position] != 0x0a { position += 1 } }
                else if bytes[position] == 0x20 || (0x09...0x0d).contains(bytes[position]) { position += 1 }
                else { break }
            }
            var value = 0, digits = 0
            while position < bytes.count, (0x30...0x39).contains(bytes[position]) {
                value = value * 10 + Int(bytes[position] - 0x30)
                position += 1; digits += 1
                guard value < 1 << 31 else { throw ImageError("\(source): a number in the PGM header is too large") }
            }
            guard digits > 0 else { throw ImageError("\(source): malformed PGM header") }
            return value
        }
        let binary = bytes[1] == 0x35
        let width = try token(), height = try token(), maxValue = try token()
        try checkSize(width, height, source, pixelLimit: pixelLimit)
        guard (1...65535).contains(maxValue) else { throw ImageError("\(source): PGM maxval \(maxValue), expected 1 to 65535") }
        var pixels = [Float](repeating: 0, count: width * height)
        if binary {
            position += 1   // one whitespace byte ends the header
            let size = maxValue > 255 ? 2 : 1
            guard bytes.count - position >= width * height * size else {
                throw ImageError("\(source): PGM data is truncated (\(bytes.count - position) bytes, expected \(width * height * size))")
            }
            for i in 0..<(width * height) {
                let value = size == 2 ? Int(bytes[position + 2 * i]) << 8 | Int(bytes[position + 2 * i + 1]) : Int(bytes[position + i])
                pixels[i] = Float(min(value, maxValue)) / Float(maxValue)
            }
        } else {
            for i in 0..<(width * height) { pixels[i] = Float(min(try token(), maxValue)) / Float(maxValue) }
        }
        return GrayImage(width: width, height: height, pixels: pixels)
    }

    // MARK: PNG

    public static func decodePNG(_ bytes: [UInt8], source: String, pixelLimit: Int = maximumPixels) throws -> GrayImage {
        guard bytes.starts(with: [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) else {
            throw ImageError("\(source): not a PNG image (no PNG signature)")
        }
        func fail(_ why: String) -> ImageError { ImageError("\(source): corrupt PNG (\(why))") }
        func word(_ at: Int) -> Int { Int(bytes[at]) << 24 | Int(bytes[at + 1]) << 16 | Int(bytes[at + 2]) << 8 | Int(bytes[at + 3]) }
        var position = 8
        var width = 0, height = 0, depth = 0, colorType = 0, interlace = 0
        var palette: [UInt8] = [], transparency: [UInt8] = []
        var compressed: [UInt8] = []
        var sawHeader = false, sawEnd = false
        while position + 12 <= bytes.count {
            let length = word(position)
            guard length >= 0, length <= bytes.count - position - 12 else { throw fail("a chunk runs past the end of the file") }
            // Chunk names are four ASCII letters; anything else is shown as "?" so messages stay one line.
            let type = String(bytes[(position + 4)..<(position + 8)].map { (0x41...0x7a).contains($0) ? Character(UnicodeScalar($0)) : "?" })
            let data = Array(bytes[(position + 8)..<(position + 8 + length)])
            let crc = UInt32(word(position + 8 + length))
            guard Zlib.crc32(Array(bytes[(position + 4)..<(position + 8 + length)])) == crc else { throw fail("bad CRC in \(type) chunk") }
            switch type {
            case "IHDR":
                guard length == 13 else { throw fail("IHDR of \(length) bytes") }
                width = Int(data[0]) << 24 | Int(data[1]) << 16 | Int(data[2]) << 8 | Int(data[3])
                height = Int(data[4]) << 24 | Int(data[5]) << 16 | Int(data[6]) << 8 | Int(data[7])
                depth = Int(data[8]); colorType = Int(data[9]); interlace = Int(data[12])
                sawHeader = true
            case "PLTE": palette = data
            case "tRNS": transparency = data
            case "IDAT":
                guard compressed.count + data.count <= 200_000_000 else { throw fail("too much image data") }
                compressed += data
            case "IEND": sawEnd = true
            default: break
            }
            position += 12 + length
            if sawEnd { break }
        }
        guard sawHeader else { throw fail("no IHDR chunk") }
        guard sawEnd else { throw fail("the file ends before IEND") }
        try checkSize(width, height, source, pixelLimit: pixelLimit)
        let channels: Int
        switch colorType {
        case 0: channels = 1
        case 2: channels = 3
        case 3: channels = 1
        case 4: channels = 2
        case 6: channels = 4
        default: throw fail("colour type \(colorType)")
        }
        let validDepths: [Int] = colorType == 0 ? [1, 2, 4, 8, 16] : colorType == 3 ? [1, 2, 4, 8] : [8, 16]
        guard validDepths.contains(depth) else { throw fail("bit depth \(depth) with colour type \(colorType)") }
        guard interlace == 0 else { throw ImageError("\(source): interlaced PNGs are not supported; save it without interlacing") }
        if colorType == 3 && palette.isEmpty { throw fail("a palette image without PLTE") }

        let bitsPerPixel = channels * depth
        let stride = (width * bitsPerPixel + 7) / 8
        let pixelBytes = max(1, bitsPerPixel / 8)
        let raw: [UInt8]
        do { raw = try Zlib.decompress(compressed, limit: (stride + 1) * height) }
        catch { throw fail("\(error)") }
        guard raw.count == (stride + 1) * height else { throw fail("image data of \(raw.count) bytes, expected \((stride + 1) * height)") }

        // Undo the per-row filters.
        var rows = [UInt8](repeating: 0, count: stride * height)
        for y in 0..<height {
            let filter = raw[y * (stride + 1)]
            let line = y * (stride + 1) + 1
            for x in 0..<stride {
                let value = raw[line + x]
                let left = x >= pixelBytes ? Int(rows[y * stride + x - pixelBytes]) : 0
                let up = y > 0 ? Int(rows[(y - 1) * stride + x]) : 0
                let upLeft = (y > 0 && x >= pixelBytes) ? Int(rows[(y - 1) * stride + x - pixelBytes]) : 0
                let predicted: Int
                switch filter {
                case 0: predicted = 0
                case 1: predicted = left
                case 2: predicted = up
                case 3: predicted = (left + up) / 2
                case 4:
                    let p = left + up - upLeft
                    let pa = abs(p - left), pb = abs(p - up), pc = abs(p - upLeft)
                    predicted = (pa <= pb && pa <= pc) ? left : (pb <= pc ? up : upLeft)
                default: throw fail("row filter \(filter)")
                }
                rows[y * stride + x] = UInt8(truncatingIfNeeded: Int(value) + predicted)
            }
        }

        // Sample s of pixel x in row y, scaled to 0…1.
        let maxSample = Float((1 << depth) - 1)
        func sample(_ y: Int, _ x: Int, _ s: Int) -> Int {
            let index = x * channels + s
            switch depth {
            case 16: return Int(rows[y * stride + 2 * index]) << 8 | Int(rows[y * stride + 2 * index + 1])
            case 8: return Int(rows[y * stride + index])
            default:
                let bit = index * depth
                let byte = rows[y * stride + bit / 8]
                return Int(byte >> (8 - depth - bit % 8)) & ((1 << depth) - 1)
            }
        }
        var pixels = [Float](repeating: 0, count: width * height)
        for y in 0..<height {
            for x in 0..<width {
                var r: Float, g: Float, b: Float, a: Float = 1
                switch colorType {
                case 0:
                    let v = sample(y, x, 0)
                    r = Float(v) / maxSample; g = r; b = r
                    if transparency.count >= 2, v == Int(transparency[0]) << 8 | Int(transparency[1]) { a = 0 }
                case 2:
                    r = Float(sample(y, x, 0)) / maxSample; g = Float(sample(y, x, 1)) / maxSample; b = Float(sample(y, x, 2)) / maxSample
                case 3:
                    let index = sample(y, x, 0)
                    guard 3 * index + 2 < palette.count else { throw fail("palette index \(index) out of range") }
                    r = Float(palette[3 * index]) / 255; g = Float(palette[3 * index + 1]) / 255; b = Float(palette[3 * index + 2]) / 255
                    if index < transparency.count { a = Float(transparency[index]) / 255 }
                case 4:
                    r = Float(sample(y, x, 0)) / maxSample; g = r; b = r; a = Float(sample(y, x, 1)) / maxSample
                default:
                    r = Float(sample(y, x, 0)) / maxSample; g = Float(sample(y, x, 1)) / maxSample
                    b = Float(sample(y, x, 2)) / maxSample; a = Float(sample(y, x, 3)) / maxSample
                }
                let luminance = 0.299 * r + 0.587 * g + 0.114 * b
                pixels[y * width + x] = luminance * a + (1 - a)   // over white
            }
        }
        return GrayImage(width: width, height: height, pixels: pixels)
    }
}
