import Dispatch
import Foundation

/// How many threads the kernels spread work over. Defaults to the machine's cores; the
/// environment variable `BACKPROP_THREADS` or the `--threads` option sets it.
public enum Threads {
    nonisolated(unsafe) public static var count: Int = {
        if let text = ProcessInfo.processInfo.environment["BACKPROP_THREADS"], let n = Int(text), n > 0 {
            return n
        }
        return max(1, ProcessInfo.processInfo.activeProcessorCount)
    }()
}

/// Runs `body(chunk, range)` over `0..<count` split into at most `Threads.count` contiguous ranges,
/// one per thread (at most `threads`, by default `Threads.count`), and returns when all are done. With one thread (or little work) it runs inline,
/// so small layers pay no synchronisation cost. `chunk` numbers the range, for per-thread scratch.
@inlinable
public func parallelFor(_ count: Int, threads maximum: Int = Threads.count, minimumPerThread: Int = 1,
                        _ body: (_ chunk: Int, _ range: Range<Int>) -> Void) {
    let threads = min(maximum, max(1, count / max(1, minimumPerThread)))
    if threads <= 1 || count <= 1 {
        if count > 0 { body(0, 0..<count) }
        return
    }
    let per = (count + threads - 1) / threads
    withoutActuallyEscaping(body) { body in
        DispatchQueue.concurrentPerform(iterations: threads) { chunk in
            let start = chunk * per
            let end = min(count, start + per)
            if start < end { body(chunk, start..<end) }
        }
    }
}
