/// Updates parameters from their gradients. Both follow PyTorch's formulas exactly, so the same
/// gradients give the same weights as `torch.optim`.
public protocol Optimizer: AnyObject {
    /// The learning rate of the next step (a schedule sets it).
    var learningRate: Float { get set }
    /// SGD's momentum, or Adam's β1 (OneCycle cycles it).
    var momentum: Float { get set }
    func step()
    /// Everything the optimiser remembers between steps, for checkpoints.
    var state: [(name: String, tensor: Tensor)] { get }
}

/// Stochastic gradient descent with momentum, Nesterov momentum and L2 weight decay, as `torch.optim.SGD`:
///   d = g + λ·w;  v ← μ·v + d (v = d on the first step);  d ← d + μ·v (Nesterov) or d ← v;  w ← w − η·d.
public final class SGD: Optimizer {
    public var learningRate: Float
    public var momentum: Float
    public let nesterov: Bool
    public let weightDecay: Float
    private let parameters: [Parameter]
    private let velocities: [Tensor]
    private let steps = Tensor(shape: [1])

    public init(parameters: [Parameter], learningRate: Float, momentum: Float = 0, nesterov: Bool = false,
                weightDecay: Float = 0) {
        self.parameters = parameters
        self.learningRate = learningRate
        self.momentum = momentum
        self.nesterov = nesterov
        self.weightDecay = weightDecay
        velocities = parameters.map { Tensor(shape: $0.value.shape) }
    }

    public var state: [(name: String, tensor: Tensor)] {
        [("step", steps)] + velocities.enumerated().map { ("momentum_buffer.\($0.offset)", $0.element) }
    }

    public func step() {
        let first = steps[0] == 0
        for (parameter, velocity) in zip(parameters, velocities) {
            let w = parameter.value.data, g = parameter.gradient.data, v = velocity.data
            for i in 0..<parameter.count {
                var d = g[i] + weightDecay * w[i]
                if momentum != 0 {
                    v[i] = first ? d : momentum * v[i] + d
                    d = nesterov ? d + momentum * v[i] : v[i]
                }
                w[i] -= learningRate * d
            }
        }
        steps[0] += 1
    }
}

/// Adam, as `torch.optim.Adam` (L2 weight decay added to the gradient, bias-corrected moments):
///   m ← β1·m + (1 − β1)·g;  v ← β2·v + (1 − β2)·g²;  w ← w − η·(m/(1 − β1ᵗ)) / (√(v/(1 − β2ᵗ)) + ε).
public final class Adam: Optimizer {
    public var learningRate: Float
    public var momentum: Float   // β1
    public let beta2: Float
    public let epsilon: Float
    public let weightDecay: Float
    private let parameters: [Parameter]
    private let firstMoments: [Tensor]
    private let secondMoments: [Tensor]
    private let steps = Tensor(shape: [1])

    public init(parameters: [Parameter], learningRate: Float = 0.001, beta1: Float = 0.9, beta2: Float = 0.999,
                epsilon: Float = 1e-8, weightDecay: Float = 0) {
        self.parameters = parameters
        self.learningRate = learningRate
        self.momentum = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        self.weightDecay = weightDecay
        firstMoments = parameters.map { Tensor(shape: $0.value.shape) }
        secondMoments = parameters.map { Tensor(shape: $0.value.shape) }
    }

    public var state: [(name: String, tensor: Tensor)] {
        [("step", steps)]
            + firstMoments.enumerated().map { ("exp_avg.\($0.offset)", $0.element) }
            + secondMoments.enumerated().map { ("exp_avg_sq.\($0.offset)", $0.element) }
    }

    public func step() {
        steps[0] += 1
        let t = steps[0]
        let correction1 = 1 - powf(momentum, t), correction2 = 1 - powf(beta2, t)
        for (index, parameter) in parameters.enumerated() {
            let w = parameter.value.data, g = parameter.gradient.data
            let m = firstMoments[index].data, v = secondMoments[index].data
            for i in 0..<parameter.count {
                let d = g[i] + weightDecay * w[i]
                m[i] = momentum * m[i] + (1 - momentum) * d
                v[i] = beta2 * v[i] + (1 - beta2) * d * d
                w[i] -= learningRate * (m[i] / correction1) / ((v[i] / correction2).squareRoot() + epsilon)
            }
        }
    }
}

import Foundation
