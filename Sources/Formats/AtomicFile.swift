import Foundation

/// An error writing an output file, with the path and the reason in one line.
public struct FileWriteError: Error, CustomStringConvertible {
    public let path: String
    public let reason: String
    public var description: String { "cannot write \(path): \(reason)" }
}

/// Writes files so that a reader never sees half of one, and an interruption leaves nothing
/// behind: the bytes go into a file with no name yet (O_TMPFILE) in the same folder, are flushed
/// to disk, and only then get a name — a fresh random one, taken exclusively, that is at once
/// renamed over the final name. So a Ctrl-C or a kill while writing leaves no temporary file; the
/// only moment one could remain is between those two renaming calls. Where O_TMPFILE or /proc is
/// missing, the file is created under the random name with O_EXCL (never someone else's file,
/// never through a planted link) and removed if the write fails; an interruption then can leave it.
/// Files that belong together (a chart's SVG and PNG) are all written before any is renamed.
public enum AtomicFile {
    public static func write(_ bytes: [UInt8], to path: String) throws {
        try write([(path, bytes)])
    }

    /// Several files that belong together: each written in full under its temporary name first,
    /// then all renamed, so that if one cannot be written none is (a failure among the renames
    /// themselves, which need no space, can still leave the earlier ones).
    public static func write(_ files: [(path: String, bytes: [UInt8])]) throws {
        var staged: [(temporary: String, path: String)] = []
        do {
            for file in files { staged.append((try stage(file.bytes, for: file.path), file.path)) }
        } catch {
            for file in staged { unlink(file.temporary) }
            throw error
        }
        for (index, file) in staged.enumerated() where rename(file.temporary, file.path) != 0 {
            let error = FileWriteError(path: file.path, reason: String(cString: strerror(errno)))
            for later in staged[index...] { unlink(later.temporary) }
            throw error
        }
    }

    /// The bytes, flushed, under a fresh temporary name beside `path`; returns that name.
    private static func stage(_ bytes: [UInt8], for path: String) throws -> String {
        let url = URL(fileURLWithPath: path)
        let directory = url.deletingLastPathComponent().path
        let temporary = directory + "/." + url.lastPathComponent + ".tmp-" + randomSuffix()
        func failure() -> FileWriteError { FileWriteError(path: path, reason: String(cString: strerror(errno))) }

        // The bytes, flushed, in a file with no name; then that file linked under the temporary name.
        let unnamed = open(directory, openUnnamed | O_WRONLY | O_CLOEXEC, 0o644)
        if unnamed >= 0 {
            defer { close(unnamed) }
            try writeAll(bytes, to: unnamed, failure)
            guard linkat(AT_FDCWD, "/proc/self/fd/\(unnamed)", AT_FDCWD, temporary, AT_SYMLINK_FOLLOW) == 0 else {
                // Without /proc to name it by (some containers), fall back to the named way below.
                guard errno == ENOENT else { throw failure() }
                return try writeNamed(bytes, temporary: temporary, failure)
            }
            return temporary
        }
        guard [EOPNOTSUPP, ENOTSUP, EISDIR, EINVAL].contains(errno) else { throw failure() }
        return try writeNamed(bytes, temporary: temporary, failure)
    }

    /// The fallback: the bytes into a new file under the temporary name (O_EXCL: never someone
    /// else's file, never through a planted link), flushed.
    private static func writeNamed(_ bytes: [UInt8], temporary: String, _ failure: () -> FileWriteError) throws -> String {
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw failure() }
        do { try writeAll(bytes, to: fd, failure) } catch { close(fd); unlink(temporary); throw error }
        guard close(fd) == 0 else { let error = failure(); unlink(temporary); throw error }
        return temporary
    }

    /// Writes every byte and flushes them to disk.
    private static func writeAll(_ bytes: [UInt8], to fd: Int32, _ failure: () -> FileWriteError) throws {
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { raw in Foundation.write(fd, raw.baseAddress! + offset, bytes.count - offset) }
            if written < 0 && errno == EINTR { continue }
            guard written > 0 else { throw failure() }
            offset += written
        }
        guard fsync(fd) == 0 else { throw failure() }
    }

    public static func write(_ text: String, to path: String) throws {
        try write(Array(text.utf8), to: path)
    }

    /// Linux's O_TMPFILE (`__O_TMPFILE | O_DIRECTORY`, the generic value), which Swift does not import.
    static let openUnnamed: Int32 = 0o20_000_000 | O_DIRECTORY

    /// Sixteen random hexadecimal digits (from the system's generator): a name nobody can guess.
    static func randomSuffix() -> String {
        var generator = SystemRandomNumberGenerator()
        let value = generator.next() as UInt64
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
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
