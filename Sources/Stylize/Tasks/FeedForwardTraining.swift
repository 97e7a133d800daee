import Foundation

/// Johnson et al.'s training: a transformer network learns to minimise the perceptual loss (content to the input
/// photo, style to one style image, total variation) of its output, over random crops of photos, with Adam.
public typealias FeedForwardTraining = Training<StyleNetworkLoss>

extension Training where Loss == StyleNetworkLoss {
    /// - Parameters:
    ///   - style: the style image, RGB 0...255 [3, h, w], already at `settings.styleSize`.
    ///   - checkpoint: a saved state to continue from, or nil for a new run.
    ///   - start: the weights a new run starts from (fine-tuning a trained network, to another style or balance of
    ///     the losses), or nil for fresh weights.
    ///   - precision: for the transformer network and VGG19, each resolved on its own under `auto`. Not part of the
    ///     recorded settings: a run may be resumed in another precision.
    public convenience init(settings: TrainingSettings, vgg: VGG19, style: Tensor, photos: PhotoCrops,
                            checkpoint: TrainingCheckpoint? = nil, start: TransformerNet? = nil, precision: Precision = .auto) throws {
        try self.init(settings: settings, checkpoint: checkpoint, fresh: {
            guard let start else { return try TransformerNet(width: settings.width, seed: settings.seed) }
            guard start.width == settings.width else {
                throw InvalidInput("startFrom", "is a network of width \(start.width), not \(settings.width); set the width to match")
            }
            return start
        }) { network in
            try StyleNetworkLoss(settings: settings, network: network, vgg: vgg, style: style, photos: photos, precision: precision)
        }
    }
}

/// The perceptual loss of a transformer network's outputs on a batch of photo crops, and its gradient for every
/// parameter: `transfer`'s objective (`GatysObjective`) of each output, with the crop itself as the content photo.
public final class StyleNetworkLoss: TrainingLoss {
    private let settings: TrainingSettings
    private let compiled: CompiledTransformerNet
    private let objective: GatysObjective
    private let photos: PhotoCrops

    init(settings: TrainingSettings, network: TransformerNet, vgg: VGG19, style: Tensor, photos: PhotoCrops,
         precision: Precision) throws {
        self.settings = settings
        self.photos = photos
        compiled = try CompiledTransformerNet(network, height: settings.size, width: settings.size,
                                              precision: precision, training: true)
        var objective = settings.objective
        // Direct convolutions: the training loop has always run them, and Winograd's 1e-4 would change its numbers.
        objective.algorithm = .direct
        objective.precision = precision
        let grams = try GatysObjective.styleTargets(vgg: vgg, style: VGG19.preprocess(style), settings: objective)
        // Every step sets each crop as the content; a grey image stands in until the first.
        let grey = Tensor(shape: [3, settings.size, settings.size], scalars: .init(repeating: 0, count: 3 * settings.size * settings.size))
        self.objective = try GatysObjective(vgg: vgg, content: grey, styles: [StyleTarget(grams: grams)], settings: objective,
                                            sharedBackwardWeights: false)
    }

    /// The loss terms averaged over the batch; the gradients summed over it, with 1/batch as their scale.
    public func lossAndGradients(step: Int) throws -> (terms: ObjectiveTerms, gradients: [String: Tensor], gradientScale: Float) {
        let crops = try photos.batch(step: step, count: settings.batch, seed: settings.seed)
        var terms = ObjectiveTerms()
        var gradients = GradientSum()
        for crop in crops {
            let (imageTerms, imageGradients) = try lossAndGradients(crop)
            terms.content += imageTerms.content / Double(crops.count)
            terms.style += imageTerms.style / Double(crops.count)
            terms.tv += imageTerms.tv / Double(crops.count)
            gradients.add(imageGradients)
        }
        return (terms, gradients.tensors, 1 / Float(crops.count))
    }

    /// The perceptual loss of the network's output for one photo and its gradient for every parameter.
    private func lossAndGradients(_ photo: Tensor) throws -> (ObjectiveTerms, [String: Tensor]) {
        try objective.setContent(VGG19.preprocess(photo))
        let output = compiled.forward(photo)
        // Total variation is the same on the preprocessed image (a shift and a reordering of the channels).
        let (terms, gradient) = try objective.evaluate(VGG19.preprocess(output))
        return (terms, try compiled.backward(VGG19.gradientToRGB(gradient)))
    }

    public func setParameters(_ network: TransformerNet) throws { try compiled.setParameters(network) }

    public var precision: String { Precision.label(network: compiled.precision, vgg: objective.precision) }
}

extension ObjectiveTerms: TrainingTerms {
    public var fields: [(String, Double)] { [("content", content), ("style", style), ("tv", tv), ("total", total)] }
    public var summary: String { String(format: "loss %.4g", total) }
}
