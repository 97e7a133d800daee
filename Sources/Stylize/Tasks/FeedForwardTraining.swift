import Foundation

/// Everything that decides what a feed-forward training run computes. Stored in checkpoints and model files.
public struct TrainingSettings: Sendable, RecordedSettings, Equatable {
    /// Optimiser steps; each sees `batch` crops.
    public var steps = 2000
    public var batch = 4
    /// Side of the square training crops.
    public var size = 256
    /// Long side the style image is resized to before its Gram matrices are taken.
    public var styleSize = 512
    /// The network's channel multiplier (`TransformerNet.width`).
    public var width: Float = 1
    public var learningRate: Float = 1e-3
    public var contentWeight: Float = 5
    public var styleWeight: Float = 100
    public var tvWeight: Float = 1e-3
    /// As the `transfer` command takes them: "relu4_2", "relu3_1:0.5,relu4_1".
    public var contentLayers = "relu4_2"
    public var styleLayers = "relu1_1,relu2_1,relu3_1,relu4_1,relu5_1"
    public var pooling = PoolingKind.max
    public var seed: UInt64 = 0
    /// The style image's file name, for the record.
    public var style = ""

    public init() {}

    public func validate() throws {
        for (name, value) in [("steps", steps), ("batch", batch), ("size", size), ("style size", styleSize)] where value <= 0 {
            throw EngineError(description: "the \(name) must be positive, not \(value)")
        }
        guard size % TransformerNet.sizeMultiple == 0 else {
            throw EngineError(description: "the crop size must be a multiple of \(TransformerNet.sizeMultiple), not \(size)")
        }
        guard size >= 32 else { throw EngineError(description: "the crop size must be at least 32 for VGG19's deep layers") }
        guard width > 0 && width <= 4 else { throw EngineError(description: "the width must be in (0, 4], not \(width)") }
        guard learningRate > 0 && learningRate.isFinite else { throw EngineError(description: "the learning rate must be positive") }
        try objective().validate()
    }

    public func objective() throws -> ObjectiveSettings {
        var objective = ObjectiveSettings()
        objective.contentWeight = contentWeight
        objective.styleWeight = styleWeight
        objective.tvWeight = tvWeight
        objective.contentLayers = try WeightedLayer.parseList(contentLayers)
        objective.styleLayers = try WeightedLayer.parseList(styleLayers)
        objective.pooling = pooling
        return objective
    }

}

/// Training settings, kept in model files and checkpoints as one line of JSON (their "training" field).
public protocol RecordedSettings: Codable, Equatable {
    var steps: Int { get set }
    var learningRate: Float { get set }
}

extension RecordedSettings {
    /// One line, keys sorted, so that equal settings give equal text.
    public func json() -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try! encoder.encode(self), as: UTF8.self)
    }

    public static func fromJSON(_ text: String) throws -> Self {
        try JSONDecoder().decode(Self.self, from: Data(text.utf8))
    }

    /// Checks that a run saved with `saved` settings may continue under these. Only the number of steps (to train
    /// longer) and the learning rate (to lower it by hand for the last steps) may change; anything else would not
    /// continue the run.
    func checkResumable(from saved: Self) throws {
        var continued = saved
        continued.steps = steps
        continued.learningRate = learningRate
        guard continued == self else {
            throw EngineError(description: "the checkpoint was made with other settings; resume with the same flags: \(saved.json())")
        }
    }
}

extension PoolingKind: Codable {}

extension WeightedLayer {
    /// "relu3_1:0.5,relu4_1" -> layers with weights.
    public static func parseList(_ list: String) throws -> [WeightedLayer] {
        let layers = try list.split(separator: ",").map { item -> WeightedLayer in
            let parts = item.split(separator: ":", omittingEmptySubsequences: false).map { String($0).trimmingCharacters(in: .whitespaces) }
            guard VGG19.reluLayers.contains(parts[0]) else {
                throw EngineError(description: "unknown layer '\(parts[0])'; VGG19's are \(VGG19.reluLayers.joined(separator: ","))")
            }
            guard parts.count <= 2, let weight = parts.count == 2 ? Float(parts[1]) : 1, weight >= 0, weight.isFinite else {
                throw EngineError(description: "'\(item)' should be layer or layer:weight with a weight >= 0")
            }
            return WeightedLayer(parts[0], weight: weight)
        }
        guard !layers.isEmpty else { throw EngineError(description: "the layer list '\(list)' names no layer") }
        return layers
    }
}

/// Johnson et al.'s training: a transformer network learns to minimise the perceptual loss (content to the input
/// photo, style to one style image, total variation) of its output, over random crops of photos, with Adam.
public final class FeedForwardTraining {
    public let settings: TrainingSettings
    public private(set) var network: TransformerNet
    /// Steps done so far.
    public private(set) var step = 0
    private var adam: Adam
    private let compiled: CompiledTransformerNet
    private let vgg: VGG19Features
    private let photos: PhotoCrops
    private let objective: ObjectiveSettings
    private let styleLosses: [String: StyleLoss]
    private let totalVariation: TotalVariation

    /// - Parameters:
    ///   - style: the style image, RGB 0...255 [3, h, w], already at `settings.styleSize`.
    ///   - checkpoint: a saved state to continue from, or nil for a fresh network.
    ///   - precision: for the transformer network and VGG19, each resolved on its own under `auto`. Not part of the
    ///     recorded settings: a run may be resumed in another precision.
    public init(settings: TrainingSettings, vgg network: VGG19, style: Tensor, photos: PhotoCrops,
                checkpoint: TrainingCheckpoint? = nil, precision: Precision = .auto) throws {
        try settings.validate()
        self.settings = settings
        self.photos = photos
        objective = try settings.objective()
        if let checkpoint {
            try settings.checkResumable(from: checkpoint.model.settings)
            self.network = checkpoint.model.network
            step = checkpoint.model.steps
            adam = checkpoint.optimizer
            adam.learningRate = settings.learningRate
        } else {
            self.network = try TransformerNet(width: settings.width, seed: settings.seed)
            adam = Adam(learningRate: settings.learningRate)
        }
        compiled = try CompiledTransformerNet(self.network, height: settings.size, width: settings.size,
                                              precision: precision, training: true)
        vgg = try VGG19Features(network, height: settings.size, width: settings.size, deepest: objective.deepestLayer,
                                pooling: objective.pooling, precision: precision)
        let grams = try GatysObjective.styleTargets(vgg: network, style: VGG19.preprocess(style), settings: objective)
        var styleLosses: [String: StyleLoss] = [:]
        for layer in objective.styleLayers {
            styleLosses[layer.name] = StyleLoss(target: grams[layer.name]!, weight: objective.styleWeight * layer.weight)
        }
        self.styleLosses = styleLosses
        totalVariation = TotalVariation(weight: objective.tvWeight)
    }

    /// One optimiser step over one batch of crops; returns the loss terms averaged over the batch.
    public func trainStep() throws -> ObjectiveTerms {
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
        guard terms.total.isFinite else {
            throw EngineError(description: "the loss became \(terms.total) at step \(step); try a smaller learning rate")
        }
        let updated = adam.step(network.parameters, gradients: gradients.mapValues { Tensor(shape: [$0.count], scalars: $0) },
                                gradientScale: 1 / Float(crops.count))
        try network.update(updated)
        try compiled.setParameters(network)
        step += 1
        return terms
    }

    /// The perceptual loss of the network's output for one photo and its gradient for every parameter.
    private func lossAndGradients(_ photo: Tensor) throws -> (ObjectiveTerms, [String: Tensor]) {
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

    /// Everything needed to continue exactly from here.
    public var checkpoint: TrainingCheckpoint {
        TrainingCheckpoint(model: model, optimizer: adam)
    }

    /// What the transformer network and VGG19 run in, e.g. "bf16" or "fp32 / VGG19 bf16".
    public var precision: String { Precision.label(network: compiled.precision, vgg: vgg.precision) }

    /// The trained network as a model file's contents.
    public var model: StyleModel { StyleModel(network: network, settings: settings, steps: step) }
}
