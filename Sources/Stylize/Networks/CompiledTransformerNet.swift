/// A `TransformerNet` compiled for one image size: its oneDNN primitives and buffers, a forward pass from an RGB
/// image to its stylized version, and a backward pass from the output's gradient to the parameters' gradients.
/// Images go through one at a time, so that instance normalisation is oneDNN's batch normalisation of a batch of
/// one; a training batch is a loop over its images.
public final class CompiledTransformerNet {
    private enum Stage {
        case convolution(ConvolutionBlock)
        case residual(ResidualBlock)
    }

    public let height: Int
    public let width: Int
    private let stages: [Stage]
    private let parameterShapes: [String: [Int]]
    private let plainImage: Memory
    private let input: Memory
    private let toInput: Reorder
    private let fromOutput: Reorder
    private let toOutputGradient: Reorder
    private let outputGradient: Memory
    /// Each stage's input in the last forward pass, for the backward pass.
    private var stageInputs: [Memory] = []

    /// - Parameters: height and width: multiples of `TransformerNet.sizeMultiple`, so the output has the input's size.
    public init(_ network: TransformerNet, height: Int, width: Int) throws {
        let multiple = TransformerNet.sizeMultiple
        guard height > 0 && width > 0 && height % multiple == 0 && width % multiple == 0 else {
            throw EngineError(description: "the transformer network takes sides that are multiples of \(multiple), not \(width)x\(height)")
        }
        self.height = height
        self.width = width
        let parameters = network.parameters
        var stages: [Stage] = []
        var shape = [1, 3, height, width]
        var layout: MemoryDescriptor? = nil
        var pendingResidual: ConvolutionSpec? = nil
        for spec in TransformerNet.layers(channels: network.channels) {
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
        precondition(shape == [1, 3, height, width], "the network's output is \(shape)")
        self.stages = stages
        parameterShapes = TransformerNet.parameterShapes(channels: network.channels)
        guard case .convolution(let first) = stages.first!, case .convolution(let last) = stages.last! else {
            fatalError("the network starts and ends with a convolution")
        }
        let plain = MemoryDescriptor.plain([1, 3, height, width])
        plainImage = try Memory(plain)
        input = try Memory(first.inputLayout)
        toInput = try Reorder(from: plain, to: first.inputLayout)
        fromOutput = try Reorder(from: last.outputLayout, to: plain)
        toOutputGradient = try Reorder(from: plain, to: last.outputLayout)
        outputGradient = try Memory(last.outputLayout)
    }

    /// Loads new parameters (after an optimiser step) into the compiled primitives.
    public func setParameters(_ network: TransformerNet) throws {
        for stage in stages {
            switch stage {
            case .convolution(let block): try block.setParameters(network.parameters)
            case .residual(let block): try block.setParameters(network.parameters)
            }
        }
    }

    /// The stylized image, RGB [3, H, W], from an RGB image [3, H, W] (both on the 0...255 scale).
    public func forward(_ image: Tensor) -> Tensor {
        precondition(image.shape == [3, height, width], "network compiled for 3x\(height)x\(width), given \(image.shape)")
        plainImage.load(image.scalars)
        toInput(plainImage, into: input)
        var current = input
        stageInputs.removeAll(keepingCapacity: true)
        for stage in stages {
            stageInputs.append(current)
            switch stage {
            case .convolution(let block): current = block.forward(current)
            case .residual(let block): current = block.forward(current)
            }
        }
        fromOutput(current, into: plainImage)
        return Tensor(shape: [3, height, width], scalars: plainImage.scalars())
    }

    /// The gradient of a loss with respect to every parameter, given its gradient with respect to the output of the
    /// last `forward` ([3, H, W]).
    public func backward(_ gradient: Tensor) throws -> [String: Tensor] {
        precondition(gradient.shape == [3, height, width] && stageInputs.count == stages.count, "backward before forward")
        plainImage.load(gradient.scalars)
        toOutputGradient(plainImage, into: outputGradient)
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
