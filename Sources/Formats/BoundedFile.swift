import Foundation

/// A file that cannot be read, or holds more than a reader takes, in one line.
public struct FileReadError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// Reads whole files with a limit on their size that holds for anything with a path: a regular
/// file is measured before it is read, and a device (`/dev/zero`) or a file that grows while being
/// read is stopped as soon as more than `limit` bytes have come. Folders, named pipes and sockets
/// are refused (a pipe with no writer would wait forever).
public enum BoundedFile {
    public static func read(_ path: String, limit: Int) throws -> [UInt8] {
        // O_NONBLOCK, so that opening a named pipe cannot wait for a writer; it is refused below.
        let descriptor = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard descriptor >= 0 else {
            throw FileReadError("\(path): cannot be read (\(String(cString: strerror(errno))))")
        }
        defer { close(descriptor) }
        var status = stat()
        guard fstat(descriptor, &status) == 0 else {
            throw FileReadError("\(path): cannot be read (\(String(cString: strerror(errno))))")
        }
        switch status.st_mode & S_IFMT {
        case S_IFDIR: throw FileReadError("\(path): is a folder, not a file")
        case S_IFIFO, S_IFSOCK: throw FileReadError("\(path): is a pipe or a socket, not a file")
        default: break
        }
        _ = fcntl(descriptor, F_SETFL, fcntl(descriptor, F_GETFL) & ~O_NONBLOCK)
        let tooLarge = FileReadError("\(path): larger than the \(grouped(limit)) bytes this file may have")
        let regular = (status.st_mode & S_IFMT) == S_IFREG
        if regular && Int(status.st_size) > limit { throw tooLarge }
        // Room for the whole regular file and one byte more, to notice growth; else grow as read.
        var bytes = [UInt8]()
        bytes.reserveCapacity(regular ? Int(status.st_size) + 1 : 1 << 16)
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let got = chunk.withUnsafeMutableBytes { Foundation.read(descriptor, $0.baseAddress!, $0.count) }
            if got < 0 {
                if errno == EINTR { continue }
                throw FileReadError("\(path): cannot be read (\(String(cString: strerror(errno))))")
            }
            if got == 0 { return bytes }
            guard bytes.count + got <= limit else { throw tooLarge }
            bytes.append(contentsOf: chunk[0..<got])
        }
    }
}
