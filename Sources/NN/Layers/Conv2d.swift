import Kernels

/// A 2-D convolution with square kernels, zero padding, stride, dilation and groups, as PyTorch's
/// `nn.Conv2d`.
///
/// Shapes: input (N, Cin, H, W) → output (N, Cout, H′, W′), H′ = ⌊(H + 2p − d·(k−1) − 1)/s⌋ + 1
/// (W′ likewise); weight (Cout, Cin/G, k, k); bias (Cout). Stride s, dilation d and groups G
/// default to 1.
///
/// Forward:   y[n,o,y,x] = b[o] + Σ_{c,i,j} w[o,c,i,j] · in[n,c,s·y+d·i−p,s·x+d·j−p]
/// Backward:  each weight touched every output position, so its gradient sums over them:
///            ∂L/∂w[o,c,i,j] = Σ_{n,y,x} ∂L/∂y[n,o,y,x] · in[n,c,s·y+d·i−p,s·x+d·j−p],  ∂L/∂b[o] = Σ_{n,y,x} ∂L/∂y[n,o,y,x];
///            each input pixel fed the outputs whose window covers it, so
///            ∂L/∂in[n,c,iy,ix] = Σ_{o,i,j} w[o,c,i,j] · ∂L/∂y[n,o,(iy−d·i+p)/s,(ix−d·j+p)/s]   (terms whose
///            division is not exact, or lands outside the output, are 0); with s = d = 1, a "full"
///            convolution of the output gradient with the flipped kernel.
/// The loops live in `Kernels` (`Conv2dKernel`, with the plain `Conv2dReference` beside it), which
/// convolve with stride 1 and dilation 1. Other convolutions first rearrange their input so that
/// the same fast kernel computes them exactly (`Method`):
///   - stride 2 with an odd kernel of 3 or more (a learner's usual downsampling): space-to-depth
///     (`SpaceToDepth`): the input's four phases as four times the channels at half the size,
///     the kernel dealt out to them, a stride-1 convolution with a ⌈k/2⌉ kernel (16/9 of the
///     multiply-adds for 3×3);
///   - any other stride or dilation: the windows it reads gathered into columns
///     (`ConvolutionWindows`, im2col), columns[n,(c·k+i)·k+j,y,x] = in[n,c,s·y+d·i−p,s·x+d·j−p],
///     then a 1×1 convolution over Cin·k·k channels with the same weights (no wasted multiply-add;
///     the columns cost k²/s² times the input's memory).
/// Backward runs the kernel's backward passes on the rearranged input, then takes the weight
/// gradient and the input gradient back to their own layouts.
///
/// With groups G > 1 (e.g. a depthwise convolution, G = Cin), output channel o sees only the
/// input channels of its group, g = o / (Cout/G): the sums above run over c < Cin/G of input
/// channel g·Cin/G + c. Those run their own direct loops, any stride and dilation included
/// (`GroupedConvolution`).
public final class Conv2d: Layer {
    public let inChannels: Int
    public let outChannels: Int
    public let kernelSize: Int
    public let stride: Int
    public let padding: Int
    public let dilation: Int
    public let groups: Int
    public let weight: Parameter
    public let bias: Parameter?

    private let output = Tensor(shape: [0])
    private var input: Tensor?
    // The kernels planned for the last batch size and thread count seen, one of each: an epoch's
    // last, smaller batch plans again, and so does the next epoch's first (their scratch allocated
    // and zeroed again) instead of a second set of scratch being kept all along.
    private var planned: (plan: Plan, kernel: Conv2dKernel)?
    private var plannedEvaluation: (plan: Plan, kernel: WinogradConvolution?)?   // for `forwardFolded`
    private struct Plan: Equatable { let batch: Int, threads: Int }

    // Convolutions the kernel does not run directly: the input rearranged by the last forward pass
    // and its gradient; with space-to-depth, the dealt-out weights w′ and their gradient.
    private let rearranged = Tensor(shape: [0])
    private let rearrangedGradient = Tensor(shape: [0])
    private let phasedWeight = Tensor(shape: [0])
    private let phasedWeightGradient = Tensor(shape: [0])

    public init(_ inChannels: Int, _ outChannels: Int, kernelSize: Int, stride: Int = 1, padding: Int = 0,
                dilation: Int = 1, groups: Int = 1, bias: Bool = true) {
        precondition(inChannels > 0 && outChannels > 0 && kernelSize > 0 && stride > 0 && padding >= 0 && dilation > 0)
        precondition(groups > 0 && inChannels % groups == 0 && outChannels % groups == 0, "groups must divide both channel counts")
        self.inChannels = inChannels
        self.outChannels = outChannels
        self.kernelSize = kernelSize
        self.stride = stride
        self.padding = padding
        self.dilation = dilation
        self.groups = groups
        weight = Parameter(shape: [outChannels, inChannels / groups, kernelSize, kernelSize])
        self.bias = bias ? Parameter(shape: [outChannels]) : nil
    }

    /// d·(k−1) + 1: the span of the dilated kernel.
    private var span: Int { dilation * (kernelSize - 1) + 1 }

    public var description: String {
        var text = "Conv2d(\(inChannels), \(outChannels), kernel_size=\(kernelSize)"
        if stride > 1 { text += ", stride=\(stride)" }
        if padding > 0 { text += ", padding=\(padding)" }
        if dilation > 1 { text += ", dilation=\(dilation)" }
        if groups > 1 { text += ", groups=\(groups)" }
        if bias == nil { text += ", bias=False" }
        return text + ")"
    }

    public func outputShape(for inputShape: [Int]) throws -> [Int] {
        let (_, h, w) = try expectImage(inputShape, channels: inChannels, description)
        guard h + 2 * padding >= span && w + 2 * padding >= span else {
            throw ModelError("\(description) needs images of at least \(span - 2 * padding) pixels, got \(h)×\(w)")
        }
        return [outChannels, (h + 2 * padding - span) / stride + 1, (w + 2 * padding - span) / stride + 1]
    }

    public var namedParameters: [(name: String, parameter: Parameter)] {
        [("weight", weight)] + (bias.map { [("bias", $0)] } ?? [])
    }

    public func spatialWindow(for inputShape: [Int]) -> (kernel: Int, stride: Int)? { (span, stride) }

    public var spec: LayerSpec? {
        LayerSpec(type: "Conv2d", inChannels: inChannels, outChannels: outChannels, kernelSize: kernelSize,
                  stride: stride, padding: padding, dilation: dilation, groups: groups > 1 ? groups : nil,
                  bias: bias != nil)
    }

    /// PyTorch's default: weights and bias uniform in ±1/√fan_in, fan_in = (Cin/G)·k·k.
    public func initialize(using random: inout Random) {
        initializeUniformly([weight] + (bias.map { [$0] } ?? []), fanIn: inChannels / groups * kernelSize * kernelSize, using: &random)
    }

    public func copy() -> Layer {
        let twin = Conv2d(inChannels, outChannels, kernelSize: kernelSize, stride: stride, padding: padding,
                          dilation: dilation, groups: groups, bias: bias != nil)
        twin.copyValues(from: self)
        return twin
    }

    /// Output positions × (Cin/G)·k·k.
    public func multiplyAdds(for inputShape: [Int]) -> Int {
        guard let out = try? outputShape(for: inputShape) else { return 0 }
        return out.reduce(1, *) * inChannels / groups * kernelSize * kernelSize
    }

    /// How the fast stride-1 kernel computes this convolution for a batch of images.
    private enum Method {
        case direct
        case spaceToDepth(SpaceToDepth)
        case windows(ConvolutionWindows)
    }

    private func method(for input: Tensor) -> Method {
        method(batch: input.batch, height: input.shape[2], width: input.shape[3])
    }

    private func method(batch n: Int, height h: Int, width w: Int) -> Method {
        if stride == 1 && dilation == 1 { return .direct }
        if SpaceToDepth.suits(kernelSize: kernelSize, stride: stride, dilation: dilation) {
            return .spaceToDepth(SpaceToDepth(batch: n, channels: inChannels, height: h, width: w,
                                              kernelSize: kernelSize, padding: padding))
        }
        return .windows(ConvolutionWindows(batch: n, channels: inChannels, height: h, width: w, kernelSize: kernelSize,
                                           stride: stride, padding: padding, dilation: dilation))
    }

    /// Floats per image of the input rearranged for the kernel (0 when it convolves the input
    /// itself), for an input of `inputShape` that fits: memory a model file's limits count.
    public func rearrangedFloats(for inputShape: [Int]) -> Int {
        guard groups == 1 else { return 0 }
        switch method(batch: 1, height: inputShape[1], width: inputShape[2]) {
        case .direct: return 0
        case let .spaceToDepth(phases): return phases.count
        case let .windows(windows): return windows.count
        }
    }

    /// The stride-1 convolution the kernel runs.
    private func shape(for input: Tensor) -> Conv2dShape {
        switch method(for: input) {
        case .direct:
            return Conv2dShape(batch: input.batch, inChannels: inChannels, outChannels: outChannels,
                               height: input.shape[2], width: input.shape[3], kernelSize: kernelSize, padding: padding)
        case let .spaceToDepth(phases):
            return Conv2dShape(batch: input.batch, inChannels: phases.phaseChannels, outChannels: outChannels,
                               height: phases.phaseHeight, width: phases.phaseWidth, kernelSize: phases.phaseKernel, padding: 0)
        case let .windows(windows):
            return Conv2dShape(batch: input.batch, inChannels: windows.rows, outChannels: outChannels,
                               height: windows.outHeight, width: windows.outWidth, kernelSize: 1, padding: 0)
        }
    }

    /// What the kernel convolves, and with which weights: the input and w when direct, else the
    /// input rearranged now, and w (windows) or w′ dealt out now (space-to-depth).
    private func operands(for input: Tensor, threads: Int) -> (input: Tensor, weight: Tensor) {
        switch method(for: input) {
        case .direct:
            return (input, weight.value)
        case let .spaceToDepth(phases):
            rearranged.reshape([input.batch, phases.phaseChannels, phases.phaseHeight, phases.phaseWidth])
            phases.split(input.data, into: rearranged.data, threads: threads)
            phasedWeight.reshape([outChannels, phases.phaseChannels, phases.phaseKernel, phases.phaseKernel])
            phases.dealWeights(weight.value.data, outChannels: outChannels, into: phasedWeight.data)
            return (rearranged, phasedWeight)
        case let .windows(windows):
            rearranged.reshape([input.batch, windows.rows, windows.outHeight, windows.outWidth])
            windows.gather(input.data, into: rearranged.data, threads: threads)
            return (rearranged, weight.value)
        }
    }

    /// Frees the planned kernels (their scratch and packed weights); the next pass plans again.
    public func releaseKernels() {
        planned = nil
        plannedEvaluation = nil
    }

    private func kernel(for input: Tensor, threads: Int) -> Conv2dKernel {
        let plan = Plan(batch: input.batch, threads: threads)
        if let planned, planned.plan == plan { return planned.kernel }
        planned = nil   // its memory is free before the new kernel takes its own
        let kernel = Conv2dKernel(shape: shape(for: input), threads: threads)
        planned = (plan, kernel)
        return kernel
    }

    /// Evaluation's plan for 3×3 convolutions: Winograd F(4, 3), half the multiply-adds (see
    /// Winograd.swift); nil where the direct kernel is faster (fewer than 8 channels in or out), and
    /// for other strides and dilations.
    private func evaluationKernel(for input: Tensor, threads: Int) -> WinogradConvolution? {
        guard case .direct = method(for: input) else { return nil }
        let plan = Plan(batch: input.batch, threads: threads)
        if let plannedEvaluation, plannedEvaluation.plan == plan { return plannedEvaluation.kernel }
        plannedEvaluation = nil
        let shape = shape(for: input)
        let kernel = WinogradConvolution.suits(shape) ? WinogradConvolution(shape: shape, threads: threads) : nil
        plannedEvaluation = (plan, kernel)
        return kernel
    }

    /// The direct loops of a grouped convolution (groups > 1) for this input: plain numbers, no scratch.
    private func grouped(for input: Tensor, threads: Int) -> GroupedConvolution {
        GroupedConvolution(batch: input.batch, inChannels: inChannels, outChannels: outChannels, groups: groups,
                           height: input.shape[2], width: input.shape[3], kernelSize: kernelSize, stride: stride,
                           padding: padding, dilation: dilation, threads: threads)
    }

    public func forward(_ input: Tensor, context: Context) -> Tensor {
        self.input = input
        if groups > 1 {
            let grouped = grouped(for: input, threads: context.threads)
            output.reshape([input.batch, outChannels, grouped.outHeight, grouped.outWidth])
            grouped.forward(input: input.data, weight: weight.value.data, bias: bias?.value.data, output: output.data)
            return output
        }
        let kernel = kernel(for: input, threads: context.threads)
        output.reshape([input.batch, outChannels, kernel.shape.outHeight, kernel.shape.outWidth])
        let (source, weights) = operands(for: input, threads: context.threads)
        kernel.forward(input: source.data, weight: weights.data, bias: bias?.value.data, output: output.data)
        return output
    }

    /// Evaluation with a BatchNorm (fixed statistics) and a ReLU folded in: per output channel o,
    /// y = max(0, conv(x, w·scale[o]) + bias·scale[o] + shift[o]), written in one pass (see
    /// `ConvBlock`). Returns an output the layer owns, like `forward`; keeps nothing for backward.
    func forwardFolded(_ input: Tensor, scale: [Float], shift: [Float], context: Context) -> Tensor {
        self.input = nil
        let foldedBias = (0..<outChannels).map { o in shift[o] + (bias.map { $0.value[o] * scale[o] } ?? 0) }
        if groups > 1 {
            let grouped = grouped(for: input, threads: context.threads)
            output.reshape([input.batch, outChannels, grouped.outHeight, grouped.outWidth])
            grouped.forward(input: input.data, weight: weight.value.data, bias: foldedBias, output: output.data,
                            scale: scale, rectify: true)
            return output
        }
        let shape = shape(for: input)
        output.reshape([input.batch, outChannels, shape.outHeight, shape.outWidth])
        let winograd = evaluationKernel(for: input, threads: context.threads)
        let (source, weights) = operands(for: input, threads: context.threads)
        scale.withUnsafeBufferPointer { scale in
            foldedBias.withUnsafeBufferPointer { foldedBias in
                if let winograd {
                    winograd.forward(input: source.data, weight: weights.data, bias: foldedBias.baseAddress!,
                                     output: output.data, scale: scale.baseAddress!, rectify: true)
                } else {
                    kernel(for: input, threads: context.threads).forward(input: source.data, weight: weights.data, bias: foldedBias.baseAddress!,
                                               output: output.data, scale: scale.baseAddress!, rectify: true)
                }
            }
        }
        return output
    }

    public func backward(_ outputGradient: Tensor, context: Context, needsInputGradient: Bool) -> Tensor? {
        guard let input else { preconditionFailure("backward without a forward pass that kept its input") }
        if groups > 1 {
            let grouped = grouped(for: input, threads: context.threads)
            grouped.backwardWeights(input: input.data, outputGradient: outputGradient.data,
                                    weightGradient: weight.gradient.data, biasGradient: bias?.gradient.data)
            guard needsInputGradient else { return nil }
            let inputGradient = context.gradients.inputGradient(input.shape, besides: outputGradient)
            grouped.backwardData(outputGradient: outputGradient.data, weight: weight.value.data, inputGradient: inputGradient.data)
            return inputGradient
        }
        let kernel = kernel(for: input, threads: context.threads)
        let method = method(for: input)
        switch method {
        case .direct:
            kernel.backwardWeights(input: input.data, outputGradient: outputGradient.data,
                                   weightGradient: weight.gradient.data, biasGradient: bias?.gradient.data)
        case let .spaceToDepth(phases):
            phasedWeightGradient.reshape(phasedWeight.shape)
            phasedWeightGradient.fill(0)
            kernel.backwardWeights(input: rearranged.data, outputGradient: outputGradient.data,
                                   weightGradient: phasedWeightGradient.data, biasGradient: bias?.gradient.data)
            phases.addWeightGradient(phasedWeightGradient.data, outChannels: outChannels, into: weight.gradient.data)
        case .windows:
            kernel.backwardWeights(input: rearranged.data, outputGradient: outputGradient.data,
                                   weightGradient: weight.gradient.data, biasGradient: bias?.gradient.data)
        }
        guard needsInputGradient else { return nil }
        let inputGradient = context.gradients.inputGradient(input.shape, besides: outputGradient)
        switch method {
        case .direct:
            kernel.backwardData(outputGradient: outputGradient.data, weight: weight.value.data, inputGradient: inputGradient.data)
        case let .spaceToDepth(phases):
            rearrangedGradient.reshape(rearranged.shape)
            kernel.backwardData(outputGradient: outputGradient.data, weight: phasedWeight.data, inputGradient: rearrangedGradient.data)
            phases.merge(rearrangedGradient.data, into: inputGradient.data, threads: context.threads)
        case let .windows(windows):
            rearrangedGradient.reshape(rearranged.shape)
            kernel.backwardData(outputGradient: outputGradient.data, weight: weight.value.data, inputGradient: rearrangedGradient.data)
            windows.scatter(rearrangedGradient.data, into: inputGradient.data, threads: context.threads)
        }
        return inputGradient
    }
}
