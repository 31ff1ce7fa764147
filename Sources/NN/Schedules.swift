import Foundation

/// How the learning rate (and, for OneCycle, the momentum) changes during training.
/// `values(…)` is asked before every optimiser step; `step` counts batches from 0.
public enum Schedule: Equatable, Sendable, Codable {
    /// The same rate throughout.
    case constant
    /// `torch.optim.lr_scheduler.StepLR`: multiply by `gamma` every `stepSize` epochs.
    case step(stepSize: Int, gamma: Float)
    /// `torch.optim.lr_scheduler.OneCycleLR` (cosine annealing, two phases, cycling momentum
    /// between `baseMomentum` and `maxMomentum`): warm up from maxLR/divFactor to maxLR over the
    /// first `percentStart` of the steps, then anneal to maxLR/(divFactor·finalDivFactor).
    case oneCycle(maxLearningRate: Float, percentStart: Float, divFactor: Float, finalDivFactor: Float,
                  baseMomentum: Float, maxMomentum: Float)

    public static func oneCycle(maxLearningRate: Float) -> Schedule {
        .oneCycle(maxLearningRate: maxLearningRate, percentStart: 0.3, divFactor: 25, finalDivFactor: 1e4,
                  baseMomentum: 0.85, maxMomentum: 0.95)
    }

    /// The same schedule peaking at `maxLearningRate` (OneCycle); the others have no peak of their own.
    public func peaking(at maxLearningRate: Float) -> Schedule {
        guard case let .oneCycle(_, percentStart, divFactor, finalDivFactor, baseMomentum, maxMomentum) = self else { return self }
        return .oneCycle(maxLearningRate: maxLearningRate, percentStart: percentStart, divFactor: divFactor,
                         finalDivFactor: finalDivFactor, baseMomentum: baseMomentum, maxMomentum: maxMomentum)
    }

    /// The learning rate and momentum (nil: leave the optimiser's momentum alone) for the optimiser
    /// step numbered `step` (from 0) of `totalSteps`, in epoch `epoch` (from 0).
    public func values(baseLearningRate: Float, step: Int, epoch: Int, totalSteps: Int) -> (learningRate: Float, momentum: Float?) {
        switch self {
        case .constant:
            return (baseLearningRate, nil)
        case let .step(stepSize, gamma):
            return (baseLearningRate * powf(gamma, Float(epoch / max(stepSize, 1))), nil)
        case let .oneCycle(maxLR, percentStart, divFactor, finalDivFactor, baseMomentum, maxMomentum):
            let initial = maxLR / divFactor, final = initial / finalDivFactor
            let warmupEnd = Float(percentStart) * Float(totalSteps) - 1
            let lastStep = Float(totalSteps - 1)
            func cosine(_ start: Float, _ end: Float, _ fraction: Float) -> Float {
                end + (start - end) / 2 * (cosf(Float.pi * fraction) + 1)
            }
            let s = Float(step)
            if s <= warmupEnd {
                let fraction = warmupEnd > 0 ? s / warmupEnd : 1
                return (cosine(initial, maxLR, fraction), cosine(maxMomentum, baseMomentum, fraction))
            }
            let fraction = (s - warmupEnd) / max(lastStep - warmupEnd, 1)
            return (cosine(maxLR, final, min(fraction, 1)), cosine(baseMomentum, maxMomentum, min(fraction, 1)))
        }
    }

    public var description: String {
        switch self {
        case .constant: return "constant"
        case let .step(stepSize, gamma): return "StepLR(step_size=\(stepSize), gamma=\(gamma))"
        case let .oneCycle(maxLR, pct, div, finalDiv, _, _):
            return "OneCycleLR(max_lr=\(maxLR), pct_start=\(pct), div_factor=\(div), final_div_factor=\(finalDiv))"
        }
    }
}
