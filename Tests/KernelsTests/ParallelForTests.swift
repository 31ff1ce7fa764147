import Dispatch
import Kernels
import Synchronization
import Testing

/// `parallelFor` hands every index to exactly one call, in contiguous ranges numbered below the
/// thread count, and keeps doing so when called in quick succession, from inside itself, and from
/// several threads at once (the pool is then busy and Dispatch takes over).
@Suite("parallelFor")
struct ParallelForTests {
    /// Counts how often each index was visited, and checks the chunk numbers.
    final class Visits: @unchecked Sendable {
        let counts: UnsafeMutablePointer<Int>
        let count: Int
        let badChunks = Atomic<Int>(0)
        init(_ count: Int) {
            self.count = count
            counts = .allocate(capacity: max(1, count))
            counts.initialize(repeating: 0, count: max(1, count))
        }
        deinit { counts.deallocate() }

        func run(threads: Int, minimumPerThread: Int = 1) {
            parallelFor(count, threads: threads, minimumPerThread: minimumPerThread) { chunk, range in
                if chunk < 0 || chunk >= max(1, threads) || range.isEmpty { self.badChunks.add(1, ordering: .relaxed) }
                for i in range { self.counts[i] += 1 }
            }
        }

        func visitedOnce(times: Int = 1) -> Bool {
            (0..<count).allSatisfy { counts[$0] == times } && badChunks.load(ordering: .relaxed) == 0
        }
    }

    @Test(arguments: [0, 1, 2, 3, 7, 128, 1000], [1, 2, 3, 8])
    func everyIndexOnce(count: Int, threads: Int) {
        let visits = Visits(count)
        visits.run(threads: threads)
        #expect(visits.visitedOnce())
    }

    @Test func manyQuickCalls() {
        let visits = Visits(64)
        for _ in 0..<5000 { visits.run(threads: 2) }
        #expect(visits.visitedOnce(times: 5000))
        let few = Visits(100)
        for _ in 0..<1000 { few.run(threads: 4, minimumPerThread: 40) }
        #expect(few.visitedOnce(times: 1000))
    }

    @Test func nestedCalls() {
        let outer = 8, inner = 50
        let visits = Visits(outer * inner)
        parallelFor(outer, threads: 2) { _, range in
            for o in range {
                parallelFor(inner, threads: 2) { _, innerRange in
                    for i in innerRange { visits.counts[o * inner + i] += 1 }
                }
            }
        }
        #expect(visits.visitedOnce())
    }

    @Test func callsFromSeveralThreadsAtOnce() {
        let callers = 4, rounds = 300
        let visits = (0..<callers).map { _ in Visits(97) }
        DispatchQueue.concurrentPerform(iterations: callers) { caller in
            for _ in 0..<rounds { visits[caller].run(threads: 2) }
        }
        #expect(visits.allSatisfy { $0.visitedOnce(times: rounds) })
    }
}
