import SystemZlib

/// Errors from reading compressed data. Each message is one line a user can act on.
public enum CompressionError: Error, CustomStringConvertible {
    case notGzip
    case corrupt(String)
    case tooLarge(limit: Int)

    public var description: String {
        switch self {
        case .notGzip: return "not gzip data (expected the bytes 1f 8b at the start)"
        case .corrupt(let why): return "corrupt compressed data (\(why))"
        case .tooLarge(let limit): return "compressed data expands past the limit of \(limit) bytes"
        }
    }
}

/// Thin, safe wrappers over the system's zlib: compress and decompress whole buffers.
public enum Zlib {
    /// Compresses `bytes` into the zlib format (RFC 1950), as PNG's IDAT chunks want.
    public static func compress(_ bytes: [UInt8], level: Int32 = 6) -> [UInt8] {
        deflateAll(bytes, level: level, windowBits: MAX_WBITS)
    }

    /// Decompresses zlib-format data (PNG's IDAT), refusing to produce more than `limit` bytes.
    public static func decompress(_ bytes: [UInt8], limit: Int) throws -> [UInt8] {
        try inflateAll(bytes, windowBits: MAX_WBITS, limit: limit, allowConcatenated: false)
    }

    /// True when `bytes` start with the gzip magic number.
    public static func isGzip(_ bytes: [UInt8]) -> Bool {
        bytes.count >= 2 && bytes[0] == 0x1f && bytes[1] == 0x8b
    }

    /// Decompresses a gzip file (RFC 1952, concatenated members allowed), refusing to produce more
    /// than `limit` bytes, so a hostile file cannot make us allocate without bound.
    public static func gunzip(_ bytes: [UInt8], limit: Int) throws -> [UInt8] {
        guard isGzip(bytes) else { throw CompressionError.notGzip }
        return try inflateAll(bytes, windowBits: 16 + MAX_WBITS, limit: limit, allowConcatenated: true)
    }

    /// Compresses `bytes` into a single gzip member.
    public static func gzip(_ bytes: [UInt8], level: Int32 = 6) -> [UInt8] {
        deflateAll(bytes, level: level, windowBits: 16 + MAX_WBITS)
    }

    /// Deflates a whole buffer; `windowBits` picks the framing (15: zlib, 16 + 15: gzip).
    private static func deflateAll(_ bytes: [UInt8], level: Int32, windowBits: Int32) -> [UInt8] {
        var stream = z_stream()
        // Only lack of memory makes these fail; a call with an effect never goes inside an
        // assertion, which -Ounchecked builds remove (the call with it).
        let started = deflateInit2_(&stream, level, Z_DEFLATED, windowBits, 8, Z_DEFAULT_STRATEGY,
                                    ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size))
        guard started == Z_OK else { fatalError("zlib could not start compressing (error \(started))") }
        defer { deflateEnd(&stream) }
        var output = [UInt8](repeating: 0, count: Int(deflateBound(&stream, uLong(bytes.count))) + 32)
        let produced: Int = bytes.withUnsafeBufferPointer { input in
            output.withUnsafeMutableBufferPointer { out in
                stream.next_in = UnsafeMutablePointer(mutating: input.baseAddress)
                stream.avail_in = uInt(input.count)
                stream.next_out = out.baseAddress
                stream.avail_out = uInt(out.count)
                let status = deflate(&stream, Z_FINISH)
                guard status == Z_STREAM_END else { fatalError("zlib's deflate did not finish (error \(status))") }
                return out.count - Int(stream.avail_out)
            }
        }
        output.removeSubrange(produced...)
        return output
    }

    /// CRC-32 as PNG and gzip define it.
    public static func crc32(_ bytes: [UInt8], continuing crc: UInt32 = 0) -> UInt32 {
        bytes.withUnsafeBufferPointer { buffer in
            UInt32(SystemZlib.crc32(uLong(crc), buffer.baseAddress, uInt(buffer.count)))
        }
    }

    private static func inflateAll(_ bytes: [UInt8], windowBits: Int32, limit: Int,
                                   allowConcatenated: Bool) throws -> [UInt8] {
        var stream = z_stream()
        guard inflateInit2_(&stream, windowBits, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw CompressionError.corrupt("zlib could not start")
        }
        defer { inflateEnd(&stream) }
        var output: [UInt8] = []
        output.reserveCapacity(min(limit, max(1024, bytes.count * 4)))
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        try bytes.withUnsafeBufferPointer { input in
            stream.next_in = UnsafeMutablePointer(mutating: input.baseAddress)
            stream.avail_in = uInt(input.count)
            while true {
                let status: Int32 = chunk.withUnsafeMutableBufferPointer { out in
                    stream.next_out = out.baseAddress
                    stream.avail_out = uInt(out.count)
                    return inflate(&stream, Z_NO_FLUSH)
                }
                let produced = chunk.count - Int(stream.avail_out)
                if output.count + produced > limit { throw CompressionError.tooLarge(limit: limit) }
                output.append(contentsOf: chunk[0..<produced])
                switch status {
                case Z_STREAM_END:
                    // gzip files may hold several members one after another.
                    if allowConcatenated && stream.avail_in > 0 && stream.next_in.pointee == 0x1f {
                        guard inflateReset(&stream) == Z_OK else { throw CompressionError.corrupt("reset failed") }
                        continue
                    }
                    return
                case Z_OK:
                    continue
                case Z_BUF_ERROR:
                    if stream.avail_in == 0 { throw CompressionError.corrupt("data ends too early") }
                    continue
                default:
                    let message = stream.msg.map { String(cString: $0) } ?? "error \(status)"
                    throw CompressionError.corrupt(message)
                }
            }
        }
        return output
    }
}
