import Dispatch
import Foundation
import Synchronization

/// How many threads work is spread over when nobody says otherwise: the machine's cores, or the
/// environment variable `BACKPROP_THREADS`. Read once; a run that wants another count says so
/// where it is set up (`Context.threads`, the loaders' and kernels' `threads`), never by changing this.
public enum Threads {
    public static let available: Int = {
        if let text = ProcessInfo.processInfo.environment["BACKPROP_THREADS"], let n = Int(text), n > 0 {
            return min(n, maximum)
        }
        return max(1, min(ProcessInfo.processInfo.activeProcessorCount, maximum))
    }()

    /// The most threads any pass is split over (the worker pool numbers chunks in 16 bits, and no
    /// machine this runs on has more cores than this).
    public static let maximum = 256
}

/// Runs `body(chunk, range)` over `0..<count` split into at most `threads` contiguous, non-empty
/// ranges, one per thread, and returns when all are done.
/// With one thread (or little work) it runs inline, so small layers pay no synchronisation cost;
/// so does a call made from inside another `parallelFor`'s range (the cores are already busy).
/// `chunk` numbers the range (0 ..< threads), for per-thread scratch.
///
/// The ranges run on a small pool of threads that stay awake for a moment between calls
/// (`WorkerPool`): waking a sleeping thread costs tens of microseconds on these machines, as much
/// as a small layer's whole work. If the pool is busy (a nested call, or a call from another
/// thread at the same time) the ranges go to Dispatch instead.
public func parallelFor(_ count: Int, threads maximum: Int, minimumPerThread: Int = 1,
                        _ body: (_ chunk: Int, _ range: Range<Int>) -> Void) {
    let threads = min(maximum, max(1, count / max(1, minimumPerThread)))
    if threads <= 1 || count <= 1 || InsideParallelWork.isSet {
        if count > 0 { body(0, 0..<count) }
        return
    }
    let per = (count + threads - 1) / threads
    let chunks = (count + per - 1) / per
    withoutActuallyEscaping(body) { body in
        var job: (Int) -> Void = { chunk in
            let start = chunk * per
            body(chunk, start..<min(count, start + per))
        }
        let pooled = withUnsafePointer(to: &job) { WorkerPool.shared.run(chunks, threads: threads, job: $0) }
        if !pooled { DispatchQueue.concurrentPerform(iterations: chunks) { chunk in InsideParallelWork.run { job(chunk) } } }
    }
}

/// Threads that run the chunks of one `parallelFor` at a time, with the calling thread.
///
/// A job is published as one atomic word, the ticket: generation (bits 32…), chunk count
/// (bits 16–31), next unclaimed chunk (bits 0–15). Every thread, the caller included, claims
/// chunks by incrementing the ticket, so a chunk whose worker is slow to wake is simply taken by
/// the caller. The job's closure is read only after a successful claim, and stays valid until
/// `done` reaches the chunk count, which the caller waits for. Idle workers poll for
/// `spinNanoseconds`, then sleep on `condition` until a job is published.
final class WorkerPool: @unchecked Sendable {
    static let shared = WorkerPool()
    static let spinNanoseconds: UInt64 = 1_000_000

    private let busy = Atomic<Bool>(false)
    private let ticket = Atomic<Int>(0)
    private let done = Atomic<Int>(0)
    private let job = Atomic<Int>(0)            // address of the current `(Int) -> Void`
    private let sleepers = Atomic<Int>(0)
    private let condition = NSCondition()
    private var workers = 0                      // threads started (changed only while `busy`)
    private var generation = 0                   // jobs published (changed only while `busy`)

    /// Runs chunks 0..<chunks of `job` on this thread and up to `threads − 1` workers. Returns
    /// false, without running anything, if another job is under way.
    func run(_ chunks: Int, threads: Int, job pointer: UnsafePointer<(Int) -> Void>) -> Bool {
        guard chunks < 1 << 16,
              busy.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged
        else { return false }
        while workers < threads - 1 {
            let thread = Thread { [unowned self] in self.work() }
            thread.name = "backprop worker \(workers + 1)"
            thread.start()
            workers += 1
        }
        generation += 1
        done.store(0, ordering: .relaxed)
        job.store(Int(bitPattern: UInt(bitPattern: pointer)), ordering: .relaxed)
        ticket.store((generation & 0x7FFF_FFFF) << 32 | chunks << 16, ordering: .sequentiallyConsistent)
        if sleepers.load(ordering: .sequentiallyConsistent) > 0 {
            condition.lock()
            condition.broadcast()
            condition.unlock()
        }
        while let chunk = claim() {
            runChunk(pointer, chunk)
            done.add(1, ordering: .releasing)
        }
        var polls = 0
        while done.load(ordering: .acquiring) < chunks {
            polls += 1
            if polls > 64 { sched_yield() }
        }
        job.store(0, ordering: .relaxed)
        busy.store(false, ordering: .releasing)
        return true
    }

    /// The next unclaimed chunk of the current job, now claimed, or nil when there is none.
    private func claim() -> Int? {
        var current = ticket.load(ordering: .acquiring)
        while current & 0xFFFF < (current >> 16) & 0xFFFF {
            let (exchanged, original) = ticket.compareExchange(
                expected: current, desired: current + 1, ordering: .acquiringAndReleasing)
            if exchanged { return current & 0xFFFF }
            current = original
        }
        return nil
    }

    private var hasWork: Bool {
        let current = ticket.load(ordering: .sequentiallyConsistent)
        return current & 0xFFFF < (current >> 16) & 0xFFFF
    }

    private func work() {
        var idleSince = DispatchTime.now().uptimeNanoseconds
        while true {
            if let chunk = claim() {
                let pointer = UnsafePointer<(Int) -> Void>(bitPattern: UInt(bitPattern: job.load(ordering: .relaxed)))!
                runChunk(pointer, chunk)
                done.add(1, ordering: .releasing)
                idleSince = DispatchTime.now().uptimeNanoseconds
                continue
            }
            if DispatchTime.now().uptimeNanoseconds - idleSince < Self.spinNanoseconds {
                sched_yield()
                continue
            }
            condition.lock()
            sleepers.add(1, ordering: .sequentiallyConsistent)
            while !hasWork { condition.wait() }
            sleepers.subtract(1, ordering: .sequentiallyConsistent)
            condition.unlock()
            idleSince = DispatchTime.now().uptimeNanoseconds
        }
    }
}

/// Calls the job for one chunk. Not inlined, so that the copy of the closure it makes is released
/// before the caller counts the chunk as done (`withoutActuallyEscaping` checks that none is left).
@inline(never)
func runChunk(_ job: UnsafePointer<(Int) -> Void>, _ chunk: Int) {
    InsideParallelWork.run { job.pointee(chunk) }
}

/// A per-thread mark: set while the thread runs a range of a `parallelFor`, so that calls nested
/// inside it run inline instead of queueing for cores that are all taken.
enum InsideParallelWork {
    static let key: pthread_key_t = {
        var key = pthread_key_t()
        pthread_key_create(&key, nil)
        return key
    }()
    static let mark = UnsafeMutableRawPointer(bitPattern: 1)

    static var isSet: Bool { pthread_getspecific(key) != nil }

    static func run(_ body: () -> Void) {
        let outer = pthread_getspecific(key)
        pthread_setspecific(key, mark)
        body()
        pthread_setspecific(key, outer)
    }
}
