import Foundation
import Formats

/// A problem with a data file, in one line: the file, what is wrong, what was expected.
public struct DataError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// The IDX format of the MNIST files (http://yann.lecun.com/exdb/mnist/): a big-endian header —
/// magic 2051, count, rows, columns for images; magic 2049, count for labels — then one byte per
/// pixel or label. Files may be gzipped; we tell by their first bytes, not their names.
public enum IDX {
    public static let imagesMagic: UInt32 = 2051
    public static let labelsMagic: UInt32 = 2049
    /// The most bytes a file may hold, and expand to when gzipped (256 MiB: five times MNIST's
    /// training images); larger ones are refused as they are read.
    public static let maximumBytes = 1 << 28

    /// Reads an images file: (count, rows, columns, pixels as count·rows·columns bytes).
    public static func readImages(at path: String) throws -> (count: Int, rows: Int, columns: Int, pixels: [UInt8]) {
        try images(from: try readMaybeGzipped(path), source: path)
    }

    /// An images file's contents (already gunzipped); `source` names it in errors. The file's
    /// array is consumed: its pixels are taken out of it in place, without a copy.
    public static func images(from bytes: consuming [UInt8], source path: String) throws -> (count: Int, rows: Int, columns: Int, pixels: [UInt8]) {
        guard bytes.count >= 16 else { throw DataError("\(path): \(bytes.count) bytes is too short for an IDX images header (16 bytes)") }
        let magic = bigEndian(bytes, 0)
        guard magic == imagesMagic else {
            throw DataError("\(path): magic number \(magic), expected \(imagesMagic) for an IDX images file")
        }
        let count = Int(bigEndian(bytes, 4)), rows = Int(bigEndian(bytes, 8)), columns = Int(bigEndian(bytes, 12))
        // Each is below 2³², so 16 + count·rows·columns cannot overflow once rows and columns are checked.
        guard rows > 0 && rows <= 1024 && columns > 0 && columns <= 1024 else {
            throw DataError("\(path): images of \(rows)×\(columns) pixels, expected sizes from 1 to 1024")
        }
        let expected = 16 + count * rows * columns
        guard bytes.count == expected else {
            throw DataError("\(path): the header announces \(count) images of \(rows)×\(columns) (\(expected) bytes), the file has \(bytes.count) bytes")
        }
        bytes.removeFirst(16)   // in place when the caller gave its only reference (readImages does)
        return (count, rows, columns, bytes)
    }

    /// Reads a labels file; every label must be a digit class 0…9.
    public static func readLabels(at path: String, classes: Int = 10) throws -> [UInt8] {
        try labels(from: try readMaybeGzipped(path), source: path, classes: classes)
    }

    /// A labels file's contents (already gunzipped); `source` names it in errors.
    public static func labels(from bytes: [UInt8], source path: String, classes: Int = 10) throws -> [UInt8] {
        guard bytes.count >= 8 else { throw DataError("\(path): \(bytes.count) bytes is too short for an IDX labels header (8 bytes)") }
        let magic = bigEndian(bytes, 0)
        guard magic == labelsMagic else {
            throw DataError("\(path): magic number \(magic), expected \(labelsMagic) for an IDX labels file")
        }
        let count = Int(bigEndian(bytes, 4))
        guard bytes.count == 8 + count else {
            throw DataError("\(path): the header announces \(count) labels (\(8 + count) bytes), the file has \(bytes.count) bytes")
        }
        let labels = Array(bytes[8...])
        if let index = labels.firstIndex(where: { Int($0) >= classes }) {
            throw DataError("\(path): label \(labels[index]) at index \(index) is above \(classes - 1)")
        }
        return labels
    }

    /// The bytes of an images file.
    public static func imagesFile(count: Int, rows: Int, columns: Int, pixels: [UInt8]) -> [UInt8] {
        precondition(pixels.count == count * rows * columns)
        var out = [UInt8]()
        out.reserveCapacity(16 + pixels.count)
        for word in [imagesMagic, UInt32(count), UInt32(rows), UInt32(columns)] { appendBigEndian(word, to: &out) }
        return out + pixels
    }

    /// The bytes of a labels file.
    public static func labelsFile(_ labels: [UInt8]) -> [UInt8] {
        var out = [UInt8]()
        for word in [labelsMagic, UInt32(labels.count)] { appendBigEndian(word, to: &out) }
        return out + labels
    }

    /// The file's bytes, gunzipped when they are gzip (told by the first two bytes). Both the file
    /// and what it expands to are limited to `maximumBytes`.
    static func readMaybeGzipped(_ path: String) throws -> [UInt8] {
        let bytes: [UInt8]
        do { bytes = try BoundedFile.read(path, limit: maximumBytes) } catch { throw DataError("\(error)") }
        return try gunzippedIfNeeded(bytes, source: path)
    }

    /// `bytes` gunzipped when they start as gzip does, else as they are.
    public static func gunzippedIfNeeded(_ bytes: [UInt8], source path: String) throws -> [UInt8] {
        guard Zlib.isGzip(bytes) else { return bytes }
        do { return try Zlib.gunzip(bytes, limit: maximumBytes) }
        catch { throw DataError("\(path): \(error)") }
    }

    static func bigEndian(_ bytes: [UInt8], _ offset: Int) -> UInt32 {
        UInt32(bytes[offset]) << 24 | UInt32(bytes[offset + 1]) << 16 | UInt32(bytes[offset + 2]) << 8 | UInt32(bytes[offset + 3])
    }

    static func appendBigEndian(_ value: UInt32, to out: inout [UInt8]) {
        out += [UInt8(value >> 24), UInt8((value >> 16) & 0xff), UInt8((value >> 8) & 0xff), UInt8(value & 0xff)]
    }
}
