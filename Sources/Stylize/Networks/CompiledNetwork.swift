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

    init(_ layers: [ConvolutionSpec], parameters: [String: Tensor], inputShape: [Int]) throws {
        self.inputShape = inputShape
        var stages: [Stage] = []
        var shape = inputShape
        var layout: MemoryDescriptor? = nil
        var pendingResidual: ConvolutionSpec? = nil
        for spec in layers {
            if spec.residual != nil {
                guard let first = pendingResidual else { pendingResidual = spec; continue }
                let block = try ResidualBlock(first: first, second: spec, shape: shape, layout: layout!, parameters: parameters)
                stages.append(.residual(block))
                pendingResidual = nil
                continue
            }
            let block = try ConvolutionBlock(spec, inputShape: shape, inputLayout: layout, parameters: parameters)
            stages.append(.convolution(block))
            (shape, layout) = (block.outputShape, block.outputLayout)
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

    /// Checks that `parameters` holds exactly the shapes these layers need.
    func check(_ parameters: [String: Tensor], network: String) throws {
        let expected = parameterShapes
        for (name, shape) in expected.sorted(by: { $0.key < $1.key }) where parameters[name]?.shape != shape {
            throw EngineError(description: "\(network): \(name) should be \(shape), found \(parameters[name].map { "\($0.shape)" } ?? "nothing")")
        }
        if let extra = parameters.keys.sorted().first(where: { expected[$0] == nil }) {
            throw EngineError(description: "\(network): unexpected parameter \(extra)")
        }
    }
}
