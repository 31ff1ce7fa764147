import Formats
import Foundation
import NN

/// Shows how an epoch is going: a live bar redrawn in place when standard output is a terminal,
/// nothing until the epoch's end otherwise (logs and pipes get one plain line per epoch instead).
public final class ProgressBar {
    public let isTerminal: Bool
    private var lastDraw: UInt64 = 0

    public init(isTerminal: Bool = isatty(STDOUT_FILENO) == 1) {
        self.isTerminal = isTerminal
    }

    /// Redraws the bar at most ten times a second (and always for the last batch).
    public func update(_ p: BatchProgress) {
        guard isTerminal else { return }
        let now = DispatchTime.now().uptimeNanoseconds
        guard p.batch == p.batchCount || now - lastDraw > 100_000_000 else { return }
        lastDraw = now
        print("\r\u{1B}[2K" + ProgressBar.line(p), terminator: "")
        fflush(stdout)
    }

    /// Ends the bar's line so that what follows starts on a fresh one.
    public func finish() {
        guard isTerminal else { return }
        print("\r\u{1B}[2K", terminator: "")
        fflush(stdout)
    }

    /// `Epoch 3/15 [████████░░░░] 312/469  7,412 img/s  loss 0.0412  acc 98.71%  0:05<0:02`
    public static func line(_ p: BatchProgress, width: Int = 24) -> String {
        let fraction = Double(p.batch) / Double(max(p.batchCount, 1))
        let filled = Int((fraction * Double(width)).rounded(.down))
        let bar = String(repeating: "█", count: filled) + String(repeating: "░", count: width - filled)
        let rate = p.elapsed > 0 ? Double(p.examplesSeen) / p.elapsed : 0
        let remaining = fraction > 0 ? p.elapsed * (1 - fraction) / fraction : 0
        return "Epoch \(p.epoch) [\(bar)] \(p.batch)/\(p.batchCount)  \(grouped(Int(rate))) img/s"
            + "  loss \(formatted(p.runningLoss, 4))  acc \(formatted(p.runningAccuracy, 2))%"
            + "  \(clock(p.elapsed))<\(clock(remaining))"
    }

    /// Seconds as m:ss.
    public static func clock(_ seconds: Double) -> String {
        let total = Int(seconds.rounded())
        let s = total % 60
        return "\(total / 60):" + (s < 10 ? "0" : "") + String(s)
    }
}
