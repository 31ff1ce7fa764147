import Foundation
import Formats
import Testing

/// A bounded, randomised mutation test of the readers of files users hand us: thousands of
/// corrupted variants of valid files (bit flips, truncations, insertions, extreme header values).
/// Each must either parse or throw a one-line error; a crash fails the whole run. The
/// coverage-guided fuzzers in Fuzz/ go further, and catch hangs too (scripts/fuzz stops any input
/// that takes more than 10 s).
struct Mutator {
    var state: UInt64

    mutating func next() -> UInt64 {
        state = state &* 6364136223846793005 &+ 1442695040888963407
        return state >> 11
    }

    mutating func below(_ n: Int) -> Int { Int(next() % UInt64(max(n, 1))) }

    mutating func mutate(_ bytes: [UInt8]) -> [UInt8] {
        var out = bytes
        for _ in 0..<(1 + below(4)) {
            switch below(6) {
            case 0 where !out.isEmpty: out[below(out.count)] ^= UInt8(1 << below(8))
            case 1 where !out.isEmpty: out.removeSubrange(below(out.count)...)
            case 2: out.insert(UInt8(below(256)), at: below(out.count + 1))
            case 3 where out.count >= 4:
                let at = below(min(out.count - 3, 40))
                let extreme: [UInt8] = [[0xff, 0xff, 0xff, 0xff], [0x7f, 0xff, 0xff, 0xff], [0, 0, 0, 0], [0x80, 0, 0, 0]][below(4)]
                out.replaceSubrange(at..<(at + 4), with: extreme)
            case 4 where out.count > 8: out[below(min(out.count, 64))] = UInt8(below(256))
            default: out.append(contentsOf: (0..<below(16)).map { _ in UInt8(below(256)) })
            }
        }
        return out
    }
}

@Suite("Mutated files never crash the readers")
struct MutationTests {
    /// 3,000 mutants per reader in CI (a few seconds); BACKPROP_MUTATIONS=1000000 for a long run.
    static let iterations = Int(ProcessInfo.processInfo.environment["BACKPROP_MUTATIONS"] ?? "") ?? 3000

    func survive(_ seeds: [[UInt8]], _ read: ([UInt8]) throws -> Void) {
        var mutator = Mutator(state: 42)
        var errors = 0
        for i in 0..<Self.iterations {
            let bytes = mutator.mutate(seeds[i % seeds.count])
            do { try read(bytes) } catch {
                errors += 1
                let message = "\(error)"
                if message.contains("\n") || message.isEmpty { Issue.record("not one line: \(message)") }
            }
        }
        #expect(errors > 0, "mutations should break some files")
    }

    @Test func png() {
        let seeds = [
            PNGEncoder.encode(width: 9, height: 7, colorType: .gray, pixels: (0..<63).map { UInt8($0 * 3) }),
            PNGEncoder.encode(width: 3, height: 4, colorType: .rgba, pixels: (0..<48).map { UInt8($0 * 5) }),
        ]
        survive(seeds) { _ = try ImageReader.decodePNG($0, source: "fuzz.png") }
    }

    @Test func pgm() {
        let seeds = [Array("P5\n4 3\n255\n".utf8) + (0..<12).map { UInt8($0 * 20) }, Array("P2\n2 2\n15\n1 2 3 4\n".utf8)]
        survive(seeds) { _ = try ImageReader.decodePGM($0, source: "fuzz.pgm") }
    }

    @Test func safetensors() {
        let seeds = [
            SafetensorsFile(tensors: [.init(name: "a.weight", shape: [2, 3], floats: [1, 2, 3, 4, 5, 6]),
                                      .init(name: "b.num_batches_tracked", shape: [], integers: [3])],
                            metadata: ["model": "s6"]).serialized(),
        ]
        survive(seeds) { _ = try SafetensorsFile.parse($0, source: "fuzz.safetensors") }
    }

    @Test func gzip() {
        let seeds = [Zlib.gzip(Array(repeating: 7, count: 500) + Array("hello".utf8))]
        survive(seeds) { _ = try Zlib.gunzip($0, limit: 1 << 20) }
    }
}
