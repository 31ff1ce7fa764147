import Foundation

/// An error writing an output file, with the path and the reason in one line.
public struct FileWriteError: Error, CustomStringConvertible {
    public let path: String
    public let reason: String
    public var description: String { "cannot write \(path): \(reason)" }
}

/// Writes files so that a reader never sees half of one: the bytes go to a temporary name in the
/// same folder, are flushed to disk, and only then renamed over the final name.
public enum AtomicFile {
    public static func write(_ bytes: [UInt8], to path: String) throws {
        let url = URL(fileURLWithPath: path)
        let directory = url.deletingLastPathComponent().path
        let temporary = directory + "/." + url.lastPathComponent + ".tmp-\(getpid())"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else { throw FileWriteError(path: path, reason: String(cString: strerror(errno))) }
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { raw in
                Foundation.write(fd, raw.baseAddress! + offset, bytes.count - offset)
            }
            if written <= 0 {
                let reason = String(cString: strerror(errno))
                close(fd); unlink(temporary)
                throw FileWriteError(path: path, reason: reason)
            }
            offset += written
        }
        if fsync(fd) != 0 || close(fd) != 0 {
            unlink(temporary)
            throw FileWriteError(path: path, reason: String(cString: strerror(errno)))
        }
        if rename(temporary, path) != 0 {
            let reason = String(cString: strerror(errno))
            unlink(temporary)
            throw FileWriteError(path: path, reason: reason)
        }
    }

    public static func write(_ text: String, to path: String) throws {
        try write(Array(text.utf8), to: path)
    }

    /// Creates `path` and its parents if needed; fails with a clear reason if that is impossible
    /// or if `path` exists but is not a writable folder.
    public static func prepareDirectory(_ path: String) throws {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) {
            guard isDirectory.boolValue else { throw FileWriteError(path: path, reason: "it exists and is not a folder") }
        } else {
            do { try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true) }
            catch { throw FileWriteError(path: path, reason: "the folder cannot be created") }
        }
        guard access(path, W_OK) == 0 else { throw FileWriteError(path: path, reason: "the folder is not writable") }
    }
}
