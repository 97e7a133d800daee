import Foundation

/// A chain of `ConvolutionSpec`s compiled for one input shape [N, C, H, W]: its oneDNN primitives and buffers, a
/// forward pass from a plain input to a plain output, and a backward pass from the output's gradient to every
/// parameter's gradient. Consecutive specs of one residual block become a `ResidualBlock`. Both the transformer
/// network and the upscaling networks are such chains.
final class CompiledNetwork {
    private enum Stage {
        case convolution(ConvolutionBlock)
        case residual(ResidualBlock)
    }

    let inputShape: [Int]
    let outputShape: [Int]
    /// The format the convolutions and the layers between them run in: fp32 or bf16. Input, output, gradients
    /// handed in and out and the parameters' gradients are float32 either way.
    let precision: Precision
    let training: Bool
    private let stages: [Stage]
    private let parameterShapes: [String: [Int]]
    private let plainInput: Memory
    private let plainOutput: Memory
    private let input: Memory
    private let toInput: Reorder
    private let fromOutput: Reorder
    private let toOutputGradient: Reorder
    private let outputGradient: Memory
    /// Each stage's input in the last forward pass, for the backward pass.
    private var stageInputs: [Memory] = []

    /// - Parameter training: false for a network that only runs forward (`apply`, `upscale`): it keeps fewer
    ///   activations, and `backward` must not be called.
    init(_ layers: [ConvolutionSpec], parameters: [String: Tensor], inputShape: [Int], precision: Precision = .fp32,
         training: Bool = true) throws {
        self.inputShape = inputShape
        self.precision = precision
        self.training = training
        var stages: [Stage] = []
        var shape = inputShape
        var layout: MemoryDescriptor? = nil
        var pendingResidual: ConvolutionSpec? = nil
        // Forward passes only: the activations share three slots; each stage must leave the previous one's output
        // (its input) alone. The network's input has a memory of its own.
        let slots = training ? nil : ActivationSlots(byteCount: layers.largestActivationBytes(inputShape: inputShape))
        var previousOutput: Memory? = nil
        func storage() -> ActivationStorage { slots.map { .slots($0, busy: previousOutput.map { [$0] } ?? []) } ?? .own }
        for spec in layers {
            if spec.residual != nil {
                guard let first = pendingResidual else { pendingResidual = spec; continue }
                let block = try ResidualBlock(first: first, second: spec, shape: shape, layout: layout!, parameters: parameters,
                                              precision: precision, storage: storage())
                stages.append(.residual(block))
                previousOutput = block.output
                pendingResidual = nil
                continue
            }
            let block = try ConvolutionBlock(spec, inputShape: shape, inputLayout: layout, parameters: parameters,
                                             precision: precision, storage: storage())
            stages.append(.convolution(block))
            (shape, layout) = (block.outputShape, block.outputLayout)
            previousOutput = block.output
        }
        guard case .convolution(let first) = stages.first!, case .convolution(let last) = stages.last! else {
            fatalError("a compiled network starts and ends with a convolution")
        }
        self.stages = stages
        outputShape = shape
        parameterShapes = layers.parameterShapes
        plainInput = try Memory(.plain(inputShape))
        plainOutput = try Memory(.plain(outputShape))
        input = try Memory(first.inputLayout)
        toInput = try Reorder(from: .plain(inputShape), to: first.inputLayout)
        fromOutput = try Reorder(from: last.outputLayout, to: .plain(outputShape))
        toOutputGradient = try Reorder(from: .plain(outputShape), to: last.outputLayout)
        outputGradient = try Memory(last.outputLayout)
    }

    /// The network compiled in `precision`; `auto` compiles it in both formats the first time it meets this network
    /// and size class on this machine (`measurementKey`), times a pass through each (forward, and backward too when
    /// `training`) on an input of at most `measuredPixels` (`measuredShape`), and keeps the faster by
    /// `Precision.choice`'s rule. The times are remembered with the convolutions' (`MeasuredKernels`).
    static func make(_ layers: [ConvolutionSpec], parameters: [String: Tensor], inputShape: [Int], precision: Precision,
                     training: Bool) throws -> CompiledNetwork {
        func build(_ precision: Precision) throws -> CompiledNetwork {
            try CompiledNetwork(layers, parameters: parameters, inputShape: inputShape, precision: precision, training: training)
        }
        guard precision == .auto else { return try build(precision) }
        guard Precision.cpuHasNativeBF16 else { return try build(.fp32) }
        let measured = measuredShape(layers, inputShape: inputShape)
        let key = measurementKey(layers, inputShape: measured, training: training)
        var seconds = MeasuredKernels.lookup(key)
        let unmeasured = [(MeasuredKernels.Kernel.fp32, Precision.fp32), (.bf16, .bf16)].filter { seconds[$0.0] == nil }
        let networks = try unmeasured.map { _, format in
            try CompiledNetwork(layers, parameters: parameters, inputShape: measured, precision: format, training: training)
        }
        // Both formats run on the same fixed pattern.
        let input = (0..<measured.reduce(1, *)).map { Float($0 % 255) / 255 }
        let gradient = (0..<(networks.first?.outputShape.reduce(1, *) ?? 0)).map { Float($0 % 7) - 3 }
        // Best of three rounds that alternate the formats, after one that compiles and touches everything. The shared
        // cores' speed changes from one second to the next (the matrix units' most: the same bf16 pass has taken
        // 0.35 s and 1.1 s minutes apart), and a format timed all in one stretch would be charged for its stretch.
        for round in 0..<4 {
            for ((kernel, _), network) in zip(unmeasured, networks) {
                let elapsed = network.secondsForOnePass(input, gradient: gradient)
                if round > 0 { seconds[kernel] = min(seconds[kernel] ?? .infinity, elapsed) }
            }
        }
        MeasuredKernels.record(key, seconds)
        let choice = Precision.choice(nativeBF16: true, fp32Seconds: seconds[.fp32]!, bf16Seconds: seconds[.bf16]!)
        // At or below `measuredPixels` the timed network is the one asked for: keep it rather than compile it again.
        if measured == inputShape, let index = unmeasured.firstIndex(where: { $0.1 == choice }) { return networks[index] }
        return try build(choice)
    }

    /// The largest input area `auto` times a network on. Timing both formats takes several passes in each, and a
    /// float32 pass at full size can take seconds (15 s in all for `starry-night` at 1120x1120 on an Intel Xeon with
    /// AMX, against 0.5 s for the pass it decides); which format is faster does not change above this size (bf16
    /// 3.3-5x faster from 2^14 to 2^20 px there, and about 2x on an AMD EPYC Zen 5 at 2^20).
    static let measuredPixels = 1 << 16

    /// The input `auto` times a network on: `inputShape`, or, above `measuredPixels`, the same batch and channels
    /// on sides scaled down to that area (keeping the aspect ratio, in multiples of the network's total stride).
    static func measuredShape(_ layers: [ConvolutionSpec], inputShape: [Int]) -> [Int] {
        let (height, width) = (inputShape[2], inputShape[3])
        guard height * width > measuredPixels else { return inputShape }
        let scale = (Double(measuredPixels) / Double(height * width)).squareRoot()
        let multiple = layers.reduce(1) { $0 * $1.stride }
        func side(_ length: Int) -> Int { max(1, Int(Double(length) * scale / Double(multiple))) * multiple }
        return Array(inputShape.prefix(2)) + [side(height), side(width)]
    }

    /// What `auto`'s measurement for a network is remembered under: the network, its batch and channels, and the
    /// area it was measured at (`measuredShape`), to the nearest power of two of pixels. Photos come in every size;
    /// sizes of about the same area run at about the same speed in each format, so the first one met decides for
    /// the others, and every size above `measuredPixels` shares one measurement.
    static func measurementKey(_ layers: [ConvolutionSpec], inputShape: [Int], training: Bool) -> String {
        let pixels = inputShape.dropFirst(2).reduce(1, *)
        let areaClass = Int(log2(Double(max(pixels, 1))).rounded())
        return "network \(layers.fingerprint) \(Array(inputShape.prefix(2))) about 2^\(areaClass) px \(training ? "training" : "forward")"
    }

    /// One pass: forward on `input`, and for a training network backward from `gradient` too.
    private func secondsForOnePass(_ input: [Float], gradient: [Float]) -> Double {
        let start = ContinuousClock.now
        _ = forward(input)
        if training { _ = try? backward(gradient) }
        return (ContinuousClock.now - start).seconds
    }

    /// oneDNN's forward kernel for each convolution, in order.
    var implementations: [String] {
        stages.flatMap { stage in
            switch stage {
            case .convolution(let block): [block.forwardImplementation]
            case .residual(let block): [block.first.forwardImplementation, block.second.forwardImplementation]
            }
        }
    }

    /// Loads new parameters (after an optimiser step) into the compiled primitives.
    func setParameters(_ parameters: [String: Tensor]) throws {
        for stage in stages {
            switch stage {
            case .convolution(let block): try block.setParameters(parameters)
            case .residual(let block): try block.setParameters(parameters)
            }
        }
    }

    /// The output (plain, `outputShape`) for an input of `inputShape`'s element count.
    func forward(_ scalars: [Float]) -> [Float] {
        precondition(scalars.count == inputShape.reduce(1, *), "network compiled for \(inputShape), given \(scalars.count) values")
        plainInput.load(scalars)
        toInput(plainInput, into: input)
        var current = input
        stageInputs.removeAll(keepingCapacity: true)
        for stage in stages {
            stageInputs.append(current)
            switch stage {
            case .convolution(let block): current = block.forward(current)
            case .residual(let block): current = block.forward(current)
            }
        }
        fromOutput(current, into: plainOutput)
        return plainOutput.scalars()
    }

    /// The gradient of a loss with respect to every parameter, given its gradient with respect to the output of the
    /// last `forward` (plain, `outputShape`). Over a batch (N > 1) the parameters' gradients are summed.
    func backward(_ gradient: [Float]) throws -> [String: Tensor] {
        precondition(training, "backward through a network compiled for forward passes only")
        precondition(gradient.count == outputShape.reduce(1, *) && stageInputs.count == stages.count, "backward before forward")
        plainOutput.load(gradient)
        toOutputGradient(plainOutput, into: outputGradient)
        var parameterGradients: [String: [Float]] = [:]
        var current = outputGradient
        for (index, stage) in stages.enumerated().reversed() {
            switch stage {
            case .convolution(let block):
                guard let below = try block.backward(current, input: stageInputs[index], inputGradient: index > 0,
                                                     parameterGradients: &parameterGradients) else { break }
                current = below
            case .residual(let block):
                current = try block.backward(current, input: stageInputs[index], parameterGradients: &parameterGradients)
            }
        }
        return Dictionary(uniqueKeysWithValues: parameterGradients.map { name, values in
            (name, Tensor(shape: parameterShapes[name]!, scalars: values))
        })
    }
}

extension Array where Element == ConvolutionSpec {
    /// An upper bound on the bytes of any activation of these layers (upsampled inputs, `UpsamplingConvolution`'s
    /// grids of four phases and `ShiftedConvolution`'s shifts included) for an input of `inputShape`: channels rounded
    /// up to 64 (oneDNN's blocked layouts pad them to blocks of 16 or 32), 4 bytes a value (fp32's; bf16 fills half).
    func largestActivationBytes(inputShape: [Int]) -> Int {
        let batch = inputShape[0]
        var (height, width) = (inputShape[2], inputShape[3])
        func bytes(_ channels: Int, _ height: Int, _ width: Int) -> Int { batch * ((channels + 63) / 64 * 64) * height * width * 4 }
        func bytes(_ channels: Int) -> Int { bytes(channels, height, width) }
        var largest = 0
        for layer in self {
            if layer.upsample {
                largest = Swift.max(largest, bytes(4 * layer.output, height + 1, width + 1))
                (height, width) = (2 * height, 2 * width)
                largest = Swift.max(largest, bytes(layer.input))
            }
            if layer.kernel == 9 {
                largest = Swift.max(largest, bytes(9 * Swift.min(layer.input, layer.output), height + 2, width + 2))
            }
            // Padding kernel/2 on odd kernels: the output is ceil(side / stride).
            (height, width) = ((height - 1) / layer.stride + 1, (width - 1) / layer.stride + 1)
            largest = Swift.max(largest, bytes(layer.output))
        }
        return largest
    }

    /// Every parameter's shape, by name: each convolution's weight and bias, and each normalisation's scale and shift.
    var parameterShapes: [String: [Int]] {
        var shapes: [String: [Int]] = [:]
        for layer in self {
            shapes["\(layer.name).weight"] = [layer.output, layer.input, layer.kernel, layer.kernel]
            shapes["\(layer.name).bias"] = [layer.output]
            if let normalization = layer.normalization {
                shapes["\(normalization).weight"] = [layer.output]
                shapes["\(normalization).bias"] = [layer.output]
            }
        }
        return shapes
    }

    /// Parameters as PyTorch initialises them: weights and biases uniform in ±1/√fan-in, normalisation scales 1 and
    /// shifts 0, drawn in the names' sorted order.
    func initialParameters(seed: UInt64) -> [String: Tensor] {
        var random = SeededGenerator(seed: seed)
        var parameters: [String: Tensor] = [:]
        for (name, shape) in parameterShapes.sorted(by: { $0.key < $1.key }) {
            let count = shape.reduce(1, *)
            if let layer = first(where: { name.hasPrefix("\($0.name).") }) {
                let bound = 1 / Float(layer.input * layer.kernel * layer.kernel).squareRoot()
                parameters[name] = Tensor(shape: shape, scalars: (0..<count).map { _ in random.uniform(-bound, bound) })
            } else {
                parameters[name] = Tensor(shape: shape, scalars: [Float](repeating: name.hasSuffix(".weight") ? 1 : 0, count: count))
            }
        }
        return parameters
    }

    /// A short name for these layers (FNV-1a of their specs), for keys of remembered measurements.
    var fingerprint: String {
        var hash: UInt64 = 0xcbf29ce484222325
        for byte in map({ "\($0)" }).joined(separator: ";").utf8 {
            hash = (hash ^ UInt64(byte)) &* 0x100000001b3
        }
        return String(hash, radix: 16)
    }

    /// Checks that `parameters` holds exactly the shapes these layers need.
    func check(_ parameters: [String: Tensor], network: String) throws {
        let expected = parameterShapes
        for (name, shape) in expected.sorted(by: { $0.key < $1.key }) where parameters[name]?.shape != shape {
            throw InvalidInput("\(network): \(name) should be \(shape), found \(parameters[name].map { "\($0.shape)" } ?? "nothing")")
        }
        if let extra = parameters.keys.sorted().first(where: { expected[$0] == nil }) {
            throw InvalidInput("\(network): unexpected parameter \(extra)")
        }
    }
}
