import Foundation
import Formats

// The glue between libFuzzer and a reader. SwiftPM names an executable's entry point
// `<Target>_main` and links `main` to it; built with -parse-as-library there is no such function,
// so each fuzzer defines it (`@_cdecl("FuzzX_main")`) and hands over to libFuzzer's own driver.

public typealias TestOneInput = @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt

@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(_ argc: UnsafeMutablePointer<CInt>,
                         _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
                         _ callback: TestOneInput) -> CInt

/// Runs libFuzzer with the command line's options. The first argument that is not an option is
/// the corpus folder: when it is empty or missing, `seeds` (valid files the project writes) go
/// into it first. (An existing file instead is an input to run once, as libFuzzer does.)
public func runFuzzer(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?,
                      seeds: () throws -> [[UInt8]], _ testOneInput: TestOneInput) -> CInt {
    let arguments = (1..<Int(argc)).compactMap { argv?[$0].map { String(cString: $0) } }
    var isFolder: ObjCBool = false
    if let corpus = arguments.first(where: { !$0.hasPrefix("-") }),
       !FileManager.default.fileExists(atPath: corpus, isDirectory: &isFolder) || isFolder.boolValue,
       (try? FileManager.default.contentsOfDirectory(atPath: corpus))?.isEmpty ?? true {
        do {
            try AtomicFile.prepareDirectory(corpus)
            for (index, seed) in try seeds().enumerated() { try AtomicFile.write(seed, to: corpus + "/seed-\(index)") }
        } catch {
            FileHandle.standardError.write(Data("cannot write the seeds into \(corpus): \(error)\n".utf8))
            return 1
        }
    }
    var count = argc, vector = argv
    return LLVMFuzzerRunDriver(&count, &vector, testOneInput)
}

/// The input as an array.
public func bytes(_ start: UnsafePointer<UInt8>?, _ count: Int) -> [UInt8] {
    guard let start, count > 0 else { return [] }
    return Array(UnsafeBufferPointer(start: start, count: count))
}

/// Runs `read`; an error is what hostile input should give, but only as one non-empty line (a
/// finding otherwise: the process aborts, and libFuzzer keeps the input).
public func expectOneLineError(_ read: () throws -> Void) {
    do { try read() } catch {
        let message = "\(error)"
        if message.isEmpty || message.contains("\n") {
            FileHandle.standardError.write(Data("error is not one line: \(message)\n".utf8))
            abort()
        }
    }
}
