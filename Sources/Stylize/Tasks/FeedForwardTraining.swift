import Foundation

/// Johnson et al.'s training: a transformer network learns to minimise the perceptual loss (content to the input
/// photo, style to one style image, total variation) of its output, over random crops of photos, with Adam.
public typealias FeedForwardTraining = Training<StyleNetworkLoss>

extension Training where Loss == StyleNetworkLoss {
    /// - Parameters:
    ///   - style: the style image, RGB 0...255 [3, h, w], already at `settings.styleSize`.
    ///   - checkpoint: a saved state to continue from, or nil for a fresh network.
    ///   - precision: for the transformer network and VGG19, each resolved on its own under `auto`. Not part of the
    ///     recorded settings: a run may be resumed in another precision.
    public convenience init(settings: TrainingSettings, vgg: VGG19, style: Tensor, photos: PhotoCrops,
                            checkpoint: TrainingCheckpoint? = nil, precision: Precision = .auto) throws {
        try self.init(settings: settings, checkpoint: checkpoint,
                      fresh: { try TransformerNet(width: settings.width, seed: settings.seed) }) { network in
            try StyleNetworkLoss(settings: settings, network: network, vgg: vgg, style: style, photos: photos, precision: precision)
        }
    }
}

/// The perceptual loss of a transformer network's outputs on a batch of photo crops, and its gradient for every
/// parameter: VGG19 features of the output against those of the photo (content) and of the style image (Gram
/// matrices), plus total variation.
public final class StyleNetworkLoss: TrainingLoss {
    private let settings: TrainingSettings
    private let compiled: CompiledTransformerNet
    private let vgg: VGG19Features
    private let photos: PhotoCrops
    private let styleLosses: [String: StyleLoss]
    private let totalVariation: TotalVariation

    init(settings: TrainingSettings, network: TransformerNet, vgg: VGG19, style: Tensor, photos: PhotoCrops,
         precision: Precision) throws {
        self.settings = settings
        self.photos = photos
        let objective = settings.objective
        compiled = try CompiledTransformerNet(network, height: settings.size, width: settings.size,
                                              precision: precision, training: true)
        // Direct convolutions: the training loop has always run them, and Winograd's 1e-4 would change its numbers.
        self.vgg = try VGG19Features(vgg, height: settings.size, width: settings.size, deepest: objective.deepestLayer,
                                     pooling: objective.pooling, algorithm: .direct, precision: precision)
        let grams = try GatysObjective.styleTargets(vgg: vgg, style: VGG19.preprocess(style), settings: objective)
        var styleLosses: [String: StyleLoss] = [:]
        for layer in objective.styleLayers {
            styleLosses[layer.name] = StyleLoss(target: grams[layer.name]!, weight: objective.styleWeight * layer.weight)
        }
        self.styleLosses = styleLosses
        totalVariation = TotalVariation(weight: objective.tvWeight)
    }

    /// The loss terms averaged over the batch; the gradients summed over it, with 1/batch as their scale.
    public func lossAndGradients(step: Int) throws -> (terms: ObjectiveTerms, gradients: [String: Tensor], gradientScale: Float) {
        let crops = try photos.batch(step: step, count: settings.batch, seed: settings.seed)
        var terms = ObjectiveTerms()
        var gradients: [String: [Float]] = [:]
        for crop in crops {
            let (imageTerms, imageGradients) = try lossAndGradients(crop)
            terms.content += imageTerms.content / Double(crops.count)
            terms.style += imageTerms.style / Double(crops.count)
            terms.tv += imageTerms.tv / Double(crops.count)
            for (name, gradient) in imageGradients { gradients[name, default: []].add(gradient.scalars) }
        }
        return (terms, gradients.mapValues { Tensor(shape: [$0.count], scalars: $0) }, 1 / Float(crops.count))
    }

    /// The perceptual loss of the network's output for one photo and its gradient for every parameter.
    private func lossAndGradients(_ photo: Tensor) throws -> (ObjectiveTerms, [String: Tensor]) {
        let objective = settings.objective
        let contentLayers = Set(objective.contentLayers.map(\.name))
        let targets = try vgg.forward(VGG19.preprocess(photo), returning: contentLayers)
        let output = compiled.forward(photo)
        let features = try vgg.forward(VGG19.preprocess(output), returning: contentLayers.union(styleLosses.keys))
        var terms = ObjectiveTerms()
        var featureGradients: [String: Tensor] = [:]
        for layer in objective.contentLayers {
            let (loss, gradient) = ContentLoss(target: targets[layer.name]!, weight: objective.contentWeight * layer.weight)(features[layer.name]!)
            terms.content += loss
            featureGradients[layer.name] = gradient
        }
        for (name, styleLoss) in styleLosses {
            let (loss, gradient) = styleLoss(features[name]!)
            terms.style += loss
            featureGradients[name] = featureGradients[name].map { Tensor(shape: gradient.shape, scalars: zip($0.scalars, gradient.scalars).map(+)) } ?? gradient
        }
        var outputGradient = VGG19.gradientToRGB(try vgg.backward(featureGradients))
        let (tv, tvGradient) = totalVariation(output)
        terms.tv = tv
        for i in 0..<outputGradient.count { outputGradient.scalars[i] += tvGradient.scalars[i] }
        return (terms, try compiled.backward(outputGradient))
    }

    public func setParameters(_ network: TransformerNet) throws { try compiled.setParameters(network) }

    public var precision: String { Precision.label(network: compiled.precision, vgg: vgg.precision) }
}

extension ObjectiveTerms: TrainingTerms {
    public var fields: [(String, Double)] { [("content", content), ("style", style), ("tv", tv), ("total", total)] }
    public var summary: String { String(format: "loss %.4g", total) }
}
