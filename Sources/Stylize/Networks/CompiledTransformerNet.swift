/// A `TransformerNet` compiled for one image size. Images go through one at a time, so that instance normalisation
/// is oneDNN's batch normalisation of a batch of one; a training batch is a loop over its images.
public final class CompiledTransformerNet {
    public let height: Int
    public let width: Int
    private let network: CompiledNetwork

    /// - Parameters:
    ///   - height, width: multiples of `TransformerNet.sizeMultiple`, so the output has the input's size.
    ///   - precision: `auto` times both formats once per size class on this machine (`CompiledNetwork.make`), for a
    ///     forward pass, or for training when `training` is set.
    ///   - training: whether `backward` will be called; without it the network keeps fewer activations.
    public init(_ transformer: TransformerNet, height: Int, width: Int, precision: Precision = .fp32,
                training: Bool = false) throws {
        let multiple = TransformerNet.sizeMultiple
        guard height > 0 && width > 0 && height % multiple == 0 && width % multiple == 0 else {
            throw InvalidInput("the transformer network takes sides that are multiples of \(multiple), not \(width)x\(height)")
        }
        self.height = height
        self.width = width
        network = try CompiledNetwork.make(TransformerNet.layers(channels: transformer.channels), parameters: transformer.parameters,
                                           inputShape: [1, 3, height, width], precision: precision, training: training)
        precondition(network.outputShape == [1, 3, height, width], "the network's output is \(network.outputShape)")
    }

    /// The format the network runs in (`auto` resolved).
    public var precision: Precision { network.precision }

    /// Loads new parameters (after an optimiser step) into the compiled primitives.
    public func setParameters(_ transformer: TransformerNet) throws {
        try network.setParameters(transformer.parameters)
    }

    /// The stylized image, RGB [3, H, W], from an RGB image [3, H, W] (both on the 0...255 scale).
    public func forward(_ image: Tensor) -> Tensor {
        precondition(image.shape == [3, height, width], "network compiled for 3x\(height)x\(width), given \(image.shape)")
        return Tensor(shape: image.shape, scalars: network.forward(image.scalars))
    }

    /// The gradient of a loss with respect to every parameter, given its gradient with respect to the output of the
    /// last `forward` ([3, H, W]).
    public func backward(_ gradient: Tensor) throws -> [String: Tensor] {
        precondition(gradient.shape == [3, height, width], "gradient of \(gradient.shape) for 3x\(height)x\(width)")
        return try network.backward(gradient.scalars)
    }
}
