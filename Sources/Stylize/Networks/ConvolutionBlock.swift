/// Where a block keeps its activations: each in a mapping of its own, kept for the backward pass (training), or, for
/// forward passes only, in shared slots away from the buffers that must stay alive meanwhile (its input among them).
enum ActivationStorage {
    case own
    case slots(ActivationSlots, busy: [Memory])

    var training: Bool { if case .own = self { true } else { false } }

    /// Whether a block can keep a copy of its input besides its output: always when training; in the three shared
    /// slots only beside a single busy buffer.
    var roomForAnInputCopy: Bool {
        switch self {
        case .own: true
        case .slots(_, let busy): busy.count <= 1
        }
    }

    /// Memory for an activation; `alsoBusy`: what else must not be overwritten while it is written.
    func memory(_ layout: MemoryDescriptor, alsoAvoiding alsoBusy: [Memory] = []) throws -> Memory {
        switch self {
        // Each in a mapping of its own, with huge pages: at 1024x1024 they add up to about a gigabyte, and touching
        // that in 4 KB pages for the first time costs half a second of page faults.
        case .own: try Memory(mapping: layout)
        case .slots(let slots, let busy): try slots.memory(layout, avoiding: busy + alsoBusy)
        }
    }
}

/// One `ConvolutionSpec` compiled for one input shape: [2x upsampling] → convolution → [instance norm] [→ ReLU].
/// Made for training, it keeps the activations of its last forward pass, which its backward pass needs; made for
/// forward passes only, it normalises in place and its activations share slots with the other layers'.
final class ConvolutionBlock {
    let spec: ConvolutionSpec
    let inputShape: [Int]
    let outputShape: [Int]
    /// The layout the block reads its input in, and the one it writes its output (and takes its gradient) in.
    let inputLayout: MemoryDescriptor
    let outputLayout: MemoryDescriptor

    private let upsampling: NearestUpsampling?
    private let upsampled: Memory?
    /// Forward passes only, in an upsampling block: the upsampling and the convolution in one, on the input's 2x2
    /// patches (`UpsamplingConvolution`), where oneDNN has a direct kernel for it; `upsampling` and `convolution` then
    /// only give the layouts and shapes.
    private let phased: UpsamplingConvolution?
    /// Forward passes only, in a 9x9 layer from or to an image's few channels (the first and the last) where oneDNN's
    /// kernel for it is a fallback, and in bf16 the last: the layer as a dilated 3x3 convolution over shifted copies
    /// (`ShiftedConvolution`).
    private let shifted: ShiftedConvolution?
    /// Where a layout of oneDNN's own choosing gets a faster kind of kernel for the layer than the input's layout
    /// (on AVX2 its direct kernels want channels in blocks of 8, which a gemm layer before does not write): the
    /// input reordered to that layout (later layers then stay in it), and the memory it is reordered into (which the
    /// backward pass reads).
    private let inputReorder: LayoutChange?
    private let convolution: Convolution
    /// Where oneDNN's forward kernel for the layer is gemm and the opposite convolution's backward-data kernel is not:
    /// the layer run by that kernel (and, training, its backward passes by the opposite convolution's), after a
    /// reorder of its input if it wants another layout.
    private let transposed: (convolution: TransposedConvolution, reorder: LayoutChange?)?
    private let convolved: Memory
    private let normalization: InstanceNormalization?
    private let normalized: Memory?
    /// The backward pass of a ReLU fused into the convolution (a block without normalisation).
    private let fusedReLUBackward: ReLUBackward?
    /// Backward buffers, made on the first backward pass (`apply` never needs them).
    private var gradients: (convolved: Memory, convolutionInput: Memory, reordered: LayoutChange?, input: Memory?)?

    /// - Parameters:
    ///   - inputLayout: the previous block's output layout, or nil to let oneDNN choose (the first block).
    ///   - precision: fp32 or bf16, for the convolution; the layers after it work in its output's format.
    ///   - storage: `.own` for training; shared slots when `backward` will never be called.
    init(_ spec: ConvolutionSpec, inputShape: [Int], inputLayout: MemoryDescriptor?, parameters: [String: Tensor],
         precision: Precision = .fp32, storage: ActivationStorage = .own) throws {
        let training = storage.training
        self.spec = spec
        self.inputShape = inputShape
        var convolutionInput = inputShape
        if spec.upsample, let inputLayout {
            let upsampling = try NearestUpsampling(inputShape: inputShape, sourceLayout: inputLayout)
            self.upsampling = upsampling
            phased = training || spec.kernel != 3 || spec.stride != 1 ? nil
                : try UpsamplingConvolution(inputShape: inputShape, weights: parameters["\(spec.name).weight"]!,
                                            bias: parameters["\(spec.name).bias"]!, precision: precision, sourceLayout: inputLayout,
                                            memory: { try storage.memory($0, alsoAvoiding: $1) })
                .flatMap { Self.isFallback($0.implementation) ? nil : $0 }
            upsampled = phased == nil ? try storage.memory(upsampling.destinationLayout) : nil
            convolutionInput = upsampling.outputShape
        } else {
            precondition(!spec.upsample, "an upsampling block cannot come first")
            upsampling = nil
            upsampled = nil
            phased = nil
        }
        func makeConvolution(sourceLayout: MemoryDescriptor?) throws -> Convolution {
            try Convolution(inputShape: convolutionInput, weights: parameters["\(spec.name).weight"]!,
                            bias: parameters["\(spec.name).bias"]!, stride: spec.stride, padding: spec.kernel / 2,
                            fusedReLU: spec.relu && spec.normalization == nil, precision: precision, sourceLayout: sourceLayout)
        }
        var convolution = try makeConvolution(sourceLayout: upsampling?.destinationLayout ?? inputLayout)
        // In float32 where oneDNN's own kernel is a fallback (AVX2); in bf16 for the last layer, whose own kernel
        // wastes the matrix units on its 3 output channels (ShiftedConvolution).
        let wantsShifts = precision == .fp32 ? Self.isFallback(convolution.forwardImplementation) : inputLayout != nil
        shifted = training || !wantsShifts || spec.kernel != 9 || spec.stride != 1 || spec.upsample || convolution.fusedReLU ? nil
            : try ShiftedConvolution(inputLayout == nil ? .input : .output, inputShape: inputShape,
                                     weights: parameters["\(spec.name).weight"]!, bias: parameters["\(spec.name).bias"]!,
                                     precision: precision, sourceLayout: inputLayout,
                                     memory: { try storage.memory($0, alsoAvoiding: $1) })
        transposed = shifted != nil || spec.normalization != nil || convolution.fusedReLU || spec.stride != 1 ? nil
            : try Self.transposedReplacingFallback(convolution, spec: spec, parameters: parameters, precision: precision,
                                                   inputLayout: upsampling?.destinationLayout ?? convolution.sourceLayout,
                                                   storage: storage, alsoAvoiding: upsampled)
        var inputReorder: LayoutChange? = nil
        if transposed == nil, shifted == nil, upsampling == nil, let inputLayout, storage.roomForAnInputCopy,
           KernelKind(convolution.forwardImplementation) < .direct {
            let chosen = try makeConvolution(sourceLayout: nil)
            if KernelKind(chosen.forwardImplementation) > KernelKind(convolution.forwardImplementation)
                && !chosen.sourceLayout.sameLayout(as: inputLayout) {
                convolution = chosen
                inputReorder = try LayoutChange(from: inputLayout, into: try storage.memory(chosen.sourceLayout))
            }
        }
        self.convolution = convolution
        self.inputReorder = inputReorder
        let busy = [upsampled, inputReorder?.copy, transposed?.reorder?.copy].compactMap { $0 }
        convolved = try phased?.output ?? shifted?.output
            ?? storage.memory(transposed?.convolution.destinationLayout ?? convolution.destinationLayout, alsoAvoiding: busy)
        if let name = spec.normalization {
            let normalization = try InstanceNormalization(shape: convolution.outputShape, layout: convolved.descriptor,
                                                          fusedReLU: spec.relu, training: training)
            normalization.setParameters(scale: parameters["\(name).weight"]!, shift: parameters["\(name).bias"]!)
            self.normalization = normalization
            normalized = training ? try Memory(mapping: convolution.destinationLayout) : convolved
        } else {
            normalization = nil
            normalized = nil
        }
        fusedReLUBackward = convolution.fusedReLU ? try ReLUBackward(layout: convolution.destinationLayout) : nil
        self.inputLayout = upsampling?.sourceLayout ?? shifted?.sourceLayout
            ?? (inputReorder == nil ? convolution.sourceLayout : inputLayout!)
        outputLayout = convolved.descriptor
        outputShape = convolution.outputShape
    }

    /// oneDNN's im2col + gemm, or a reference loop: what it runs where it has no direct kernel for the layer.
    private static func isFallback(_ implementation: String) -> Bool { KernelKind(implementation) < .direct }

    /// The kinds of oneDNN convolution kernel, slowest first.
    private enum KernelKind: Int, Comparable {
        case reference, gemm, direct

        /// The kind of an implementation oneDNN names (`ref:any`, `x64:gemm:jit`, `jit:avx2`, `brgconv:...`).
        init(_ implementation: String) {
            self = implementation.hasPrefix("ref") ? .reference : implementation.contains("gemm") ? .gemm : .direct
        }

        static func < (a: Self, b: Self) -> Bool { a.rawValue < b.rawValue }
    }

    /// The `TransposedConvolution` of a layer whose forward kernel is gemm (oneDNN's fallback where it has no direct
    /// kernel for the shape), when that one's kernel is not gemm or a reference loop too; nil otherwise.
    private static func transposedReplacingFallback(_ convolution: Convolution, spec: ConvolutionSpec, parameters: [String: Tensor],
                                           precision: Precision, inputLayout: MemoryDescriptor, storage: ActivationStorage,
                                           alsoAvoiding upsampled: Memory?)
        throws -> (convolution: TransposedConvolution, reorder: LayoutChange?)? {
        guard isFallback(convolution.forwardImplementation),
              let transposed = try? TransposedConvolution(inputShape: convolution.inputShape,
                                                          weights: parameters["\(spec.name).weight"]!,
                                                          bias: parameters["\(spec.name).bias"]!,
                                                          padding: convolution.padding, precision: precision),
              !isFallback(transposed.implementation) else { return nil }
        guard !transposed.sourceLayout.sameLayout(as: inputLayout) else { return (transposed, nil) }
        let copy = try storage.memory(transposed.sourceLayout, alsoAvoiding: upsampled.map { [$0] } ?? [])
        return (transposed, try LayoutChange(from: inputLayout, into: copy))
    }

    func setParameters(_ parameters: [String: Tensor]) throws {
        let (weights, bias) = (parameters["\(spec.name).weight"]!, parameters["\(spec.name).bias"]!)
        try convolution.setParameters(weights: weights, bias: bias)
        try transposed?.convolution.setParameters(weights: weights, bias: bias)
        try phased?.setParameters(weights: weights, bias: bias)
        try shifted?.setParameters(weights: weights, bias: bias)
        if let normalization, let name = spec.normalization {
            normalization.setParameters(scale: parameters["\(name).weight"]!, shift: parameters["\(name).bias"]!)
        }
    }

    /// oneDNN's kernel for the forward pass (`jit:avx2`, `brgconv:avx512_core_amx_bf16`, `x64:gemm:jit`).
    var forwardImplementation: String {
        phased?.implementation ?? shifted?.implementation ?? transposed?.convolution.implementation
            ?? convolution.forwardImplementation
    }

    /// The output of the last forward pass.
    var output: Memory { normalized ?? convolved }

    /// Runs the block on `input` (in `inputLayout`) and returns its output (in `outputLayout`), which stays valid
    /// until the next call.
    func forward(_ input: Memory) -> Memory {
        if let phased {
            phased.forward(input)
        } else if let shifted {
            shifted.forward(input)
        } else {
            if let upsampling, let upsampled { upsampling.forward(input, into: upsampled) }
            let input = inputReorder?(input) ?? input
            if let (transposed, reorder) = transposed {
                let source = upsampled ?? input
                transposed.forward(reorder?(source) ?? source, into: convolved)
                return convolved
            }
            convolution.forward(upsampled ?? input, into: convolved)
        }
        guard let normalization, let normalized else { return convolved }
        normalization.forward(convolved, into: normalized)
        return normalized
    }

    /// Backpropagates `outputGradient` (in `outputLayout`) through the last forward pass, whose input was `input`.
    /// Adds the parameters' gradients to `parameterGradients` and returns the gradient with respect to the input
    /// (in `inputLayout`), or nil when `inputGradient` is false (the first block: nothing needs the image's gradient).
    func backward(_ outputGradient: Memory, input: Memory, inputGradient: Bool,
                  parameterGradients: inout [String: [Float]]) throws -> Memory? {
        let buffers = try backwardBuffers()
        var gradient = outputGradient
        if let normalization, let name = spec.normalization {
            let (scale, shift) = try normalization.backward(source: convolved, outputGradient: outputGradient,
                                                            into: buffers.convolved)
            parameterGradients[name + ".weight", default: []].add(scale.scalars)
            parameterGradients[name + ".bias", default: []].add(shift.scalars)
            gradient = buffers.convolved
        } else if let fusedReLUBackward {
            fusedReLUBackward(output: convolved, gradient: outputGradient, into: buffers.convolved)
            gradient = buffers.convolved
        }
        let (weights, bias) = try transposed.map { try $0.convolution.backwardWeights(source: $0.reorder?.copy ?? upsampled ?? input, outputGradient: gradient) }
            ?? convolution.backwardWeights(source: upsampled ?? inputReorder?.copy ?? input, outputGradient: gradient)
        parameterGradients[spec.name + ".weight", default: []].add(weights.scalars)
        parameterGradients[spec.name + ".bias", default: []].add(bias.scalars)
        guard inputGradient else { return nil }
        if let (transposed, _) = transposed {
            try transposed.backwardData(gradient, into: buffers.convolutionInput)
        } else {
            try convolution.backwardData(gradient, into: buffers.convolutionInput)
        }
        let below = buffers.reordered?(buffers.convolutionInput) ?? buffers.convolutionInput
        guard let upsampling, let upsampledGradient = buffers.input else { return below }
        try upsampling.backward(below, into: upsampledGradient)
        return upsampledGradient
    }

    private func backwardBuffers() throws -> (convolved: Memory, convolutionInput: Memory, reordered: LayoutChange?, input: Memory?) {
        if let gradients { return gradients }
        // The backward-data kernel may pick another layout than the block's input has; it is then reordered.
        let dataLayout = try transposed?.convolution.sourceLayout ?? convolution.inputGradientLayout()
        let target = inputReorder == nil ? convolution.sourceLayout : inputLayout
        let reordered = dataLayout.sameLayout(as: target) ? nil : try LayoutChange(from: dataLayout, into: try Memory(target))
        let made = (try Memory(mapping: outputLayout), try Memory(mapping: dataLayout), reordered,
                    try upsampling.map { try Memory(mapping: $0.sourceLayout) })
        gradients = made
        return made
    }
}

extension Array where Element == Float {
    /// Adds `other` element by element; an empty array starts as `other`.
    mutating func add(_ other: [Float]) {
        if isEmpty { self = other; return }
        precondition(count == other.count, "adding \(other.count) values to \(count)")
        withUnsafeMutableBufferPointer { a in for i in 0..<a.count { a[i] += other[i] } }
    }
}
