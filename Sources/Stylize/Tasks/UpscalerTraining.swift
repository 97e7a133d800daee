import Foundation

/// Everything that decides what an upscaler training run computes. Stored in checkpoints and model files.
public struct UpscalerTrainingSettings: Sendable, RecordedSettings, Equatable {
    public enum Loss: String, Sendable, Codable, CaseIterable {
        /// Mean squared error of the pixels: the best PSNR, and the blur that comes with averaging the possibilities.
        case pixel
        /// Feature reconstruction at one VGG19 layer (Johnson et al. 2016) plus a small pixel term: sharper edges
        /// and textures, at some cost in PSNR.
        case perceptual
    }

    public var scale = 4
    public var loss = Loss.pixel
    public var architecture = UpscalerNet.Architecture.espcn
    public var steps = 3000
    /// Patches per step.
    public var batch = 16
    /// Side of the square high-resolution patches (the network sees patch/scale).
    public var patch = 96
    public var learningRate: Float = 1e-3
    /// Weights of the two terms; the pixel loss is on the 0...1 scale, the feature loss on VGG19's.
    public var pixelWeight: Float = 1
    public var featureWeight: Float = 0
    public var featureLayer = "relu2_2"
    /// VGG19's pooling for the feature term: max (as trained) or avg.
    public var pooling = PoolingKind.max
    /// Weight of the total-variation term on the output (0...255 scale), which Johnson et al. add against the
    /// high-frequency patterns a feature loss alone lets through.
    public var tvWeight: Float = 0
    public var seed: UInt64 = 0
    /// The model file whose weights the run started from (fine-tuning), for the record; nil for fresh weights.
    public var startedFrom: String?

    public init() {}

    /// The defaults for a loss: pixel loss trains the ESPCN net alone; the perceptual loss trains the residual net
    /// with the feature term plus a pixel term about a sixth of it (at a tenth of that, the feature term alone paints
    /// a regular hatching over smooth areas, which its max-pooled layers barely see), at EDSR's learning rate (at
    /// 1e-3 its first steps raise the loss: 13 layers without normalisation amplify Adam's equal-sized first moves).
    public init(scale: Int, loss: Loss) {
        self.scale = scale
        self.loss = loss
        if loss == .perceptual {
            architecture = .residual
            featureWeight = 1e-3
            pixelWeight = 1000
            batch = 8
            learningRate = 1e-4
        }
    }

    /// Every field is optional in the JSON, so that model files written before a setting existed still load (with
    /// the setting's default, which is what they were trained with).
    public init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        func value<T: Decodable>(_ key: CodingKeys, _ fallback: T) throws -> T { try container.decodeIfPresent(T.self, forKey: key) ?? fallback }
        let defaults = UpscalerTrainingSettings()
        scale = try value(.scale, defaults.scale)
        loss = try value(.loss, defaults.loss)
        architecture = try value(.architecture, defaults.architecture)
        steps = try value(.steps, defaults.steps)
        batch = try value(.batch, defaults.batch)
        patch = try value(.patch, defaults.patch)
        learningRate = try value(.learningRate, defaults.learningRate)
        pixelWeight = try value(.pixelWeight, defaults.pixelWeight)
        featureWeight = try value(.featureWeight, defaults.featureWeight)
        featureLayer = try value(.featureLayer, defaults.featureLayer)
        pooling = try value(.pooling, defaults.pooling)
        tvWeight = try value(.tvWeight, defaults.tvWeight)
        seed = try value(.seed, defaults.seed)
        startedFrom = try container.decodeIfPresent(String.self, forKey: .startedFrom)
    }

    public func validate() throws {
        guard UpscalerNet.scales.contains(scale) else { throw EngineError(description: "the scale must be 2, 3 or 4, not \(scale)") }
        for (name, value) in [("steps", steps), ("batch", batch), ("patch", patch)] where value <= 0 {
            throw EngineError(description: "the \(name) must be positive, not \(value)")
        }
        guard patch % scale == 0, patch / scale >= 8 else {
            throw EngineError(description: "the patch must be a multiple of the scale (\(scale)) and at least \(8 * scale), not \(patch)")
        }
        guard learningRate > 0 && learningRate.isFinite else { throw EngineError(description: "the learning rate must be positive") }
        guard pixelWeight >= 0, featureWeight >= 0, pixelWeight + featureWeight > 0, tvWeight >= 0 else {
            throw EngineError(description: "the loss weights must be >= 0, and the pixel and feature weights not both 0")
        }
        guard VGG19.reluLayers.contains(featureLayer) else {
            throw EngineError(description: "unknown layer '\(featureLayer)'; VGG19's are \(VGG19.reluLayers.joined(separator: ","))")
        }
        guard loss == .perceptual || featureWeight == 0 else {
            throw EngineError(description: "a feature weight needs --loss perceptual")
        }
    }
}

/// The loss of one step, averaged over its patches.
public struct UpscalerTerms: Sendable {
    /// Mean squared error on the 0...1 scale, and the PSNR it amounts to (RGB, whole patch).
    public var pixel = 0.0
    /// The same for bicubic upscaling of the same patches: the baseline to beat.
    public var bicubicPixel = 0.0
    public var feature = 0.0
    public var tv = 0.0
    public var total = 0.0
    public var psnr: Double { 10 * log10(1 / pixel) }
    public var bicubicPSNR: Double { 10 * log10(1 / bicubicPixel) }
}

/// Trains an `UpscalerNet` on pairs made from photos: a random high-resolution patch of a halved photo, and its
/// `Upscaler.degrade`d version, which the network must upscale back. Adam, with the whole batch in one pass of the
/// network (no normalisation layers, so the images of a batch are independent).
public final class UpscalerTraining {
    public let settings: UpscalerTrainingSettings
    public private(set) var network: UpscalerNet
    public private(set) var step = 0
    private var adam: Adam
    private let compiled: CompiledNetwork
    private let vgg: VGG19Features?
    private let photos: PhotoCrops

    /// - Parameters:
    ///   - vgg: the VGG19 weights, needed for the perceptual loss only.
    ///   - checkpoint: a saved state to continue from, or nil for a new run.
    ///   - start: the weights a new run starts from (fine-tuning a trained network with another loss, as SRGAN
    ///     starts its perceptual training from a network trained on the pixel loss), or nil for fresh weights.
    ///   - precision: for the upscaler and VGG19, each resolved on its own under `auto`; not recorded with the
    ///     settings, so a run may be resumed in another precision.
    public init(settings: UpscalerTrainingSettings, photos: PhotoCrops, vgg: VGG19?, checkpoint: UpscalerCheckpoint? = nil,
                start: UpscalerNet? = nil, precision: Precision = .auto) throws {
        try settings.validate()
        guard photos.size == settings.patch, photos.preparation == .halved else {
            throw EngineError(description: "the photo crops should be \(settings.patch) px patches of halved photos")
        }
        self.settings = settings
        self.photos = photos
        if let checkpoint {
            try settings.checkResumable(from: checkpoint.model.settings)
            network = checkpoint.model.network
            step = checkpoint.model.steps
            adam = checkpoint.optimizer
            adam.learningRate = settings.learningRate
        } else if let start {
            guard start.architecture == settings.architecture, start.scale == settings.scale else {
                throw EngineError(description: "the starting model is a \(start.architecture) x\(start.scale) upscaler, not \(settings.architecture) x\(settings.scale)")
            }
            network = start
            adam = Adam(learningRate: settings.learningRate)
        } else {
            network = try UpscalerNet(architecture: settings.architecture, scale: settings.scale, seed: settings.seed)
            adam = Adam(learningRate: settings.learningRate)
        }
        let low = settings.patch / settings.scale
        compiled = try CompiledNetwork.make(network.layers, parameters: network.parameters,
                                            inputShape: [settings.batch, 3, low, low], precision: precision, training: true)
        if settings.featureWeight > 0 {
            guard let vgg else { throw EngineError(description: "the perceptual loss needs the VGG19 weights") }
            self.vgg = try VGG19Features(vgg, height: settings.patch, width: settings.patch, deepest: settings.featureLayer,
                                         pooling: settings.pooling, precision: precision)
        } else {
            self.vgg = nil
        }
    }

    /// One optimiser step over one batch of patches.
    public func trainStep() throws -> UpscalerTerms {
        let (terms, gradients) = try lossAndGradients(batchOf: step)
        guard terms.total.isFinite else {
            throw EngineError(description: "the loss became \(terms.total) at step \(step); try a smaller learning rate")
        }
        try network.update(adam.step(network.parameters, gradients: gradients))
        try compiled.setParameters(network.parameters)
        step += 1
        return terms
    }

    /// The loss of the current network on the batch of step `batchStep` (any step, done or not), without training.
    public func loss(onBatchOf batchStep: Int) throws -> UpscalerTerms {
        try lossAndGradients(batchOf: batchStep).terms
    }

    private func lossAndGradients(batchOf step: Int) throws -> (terms: UpscalerTerms, gradients: [String: Tensor]) {
        let (lowResolution, bicubic, truth) = try pairs(step: step)
        let residual = Tensor(shape: compiled.outputShape, scalars: compiled.forward(lowResolution)).pixelShuffled(scale: settings.scale)
        let upscaled = zip(bicubic, residual.scalars).map { $0 + 255 * $1 }

        // Each term and its gradient with respect to the upscaled images (0...255 scale).
        var terms = UpscalerTerms()
        terms.bicubicPixel = Self.pixelError(bicubic, truth)
        let (pixel, pixelGradient) = meanSquaredError(Tensor(shape: [upscaled.count], scalars: upscaled.map { $0 / 255 }),
                                                      Tensor(shape: [truth.count], scalars: truth.map { $0 / 255 }),
                                                      weight: 1)
        terms.pixel = pixel
        terms.total = Double(settings.pixelWeight) * pixel
        var gradient = pixelGradient.scalars.map { $0 * settings.pixelWeight / 255 }
        let (n, side) = (settings.batch, settings.patch)
        let plane = 3 * side * side
        for image in 0..<n where vgg != nil || settings.tvWeight > 0 {
            let range = image * plane..<(image + 1) * plane
            let output = Tensor(shape: [3, side, side], scalars: Array(upscaled[range]))
            if let vgg {
                let layer = settings.featureLayer
                let target = try vgg.forward(VGG19.preprocess(Tensor(shape: [3, side, side], scalars: Array(truth[range]))),
                                             returning: [layer])[layer]!
                let features = try vgg.forward(VGG19.preprocess(output), returning: [layer])[layer]!
                let (loss, featureGradient) = ContentLoss(target: target, weight: settings.featureWeight / Float(n))(features)
                terms.feature += loss / Double(settings.featureWeight)
                terms.total += loss
                let imageGradient = VGG19.gradientToRGB(try vgg.backward([layer: featureGradient]))
                for (offset, value) in zip(range, imageGradient.scalars) { gradient[offset] += value }
            }
            if settings.tvWeight > 0 {
                let (tv, tvGradient) = TotalVariation(weight: settings.tvWeight / Float(n))(output)
                terms.tv += tv
                terms.total += tv
                for (offset, value) in zip(range, tvGradient.scalars) { gradient[offset] += value }
            }
        }
        // upscaled = bicubic + 255 · shuffle(net output)
        let netGradient = Tensor(shape: residual.shape, scalars: gradient.map { $0 * 255 }).unshuffled(scale: settings.scale)
        return (terms, try compiled.backward(netGradient.scalars))
    }

    /// Mean of ((a − b)/255)², in double precision.
    private static func pixelError(_ a: [Float], _ b: [Float]) -> Double {
        zip(a, b).reduce(0.0) { sum, pair in
            let difference = Double(pair.0 - pair.1) / 255
            return sum + difference * difference
        } / Double(a.count)
    }

    /// The batch of one step: the network's input (x/255 − 0.5), the bicubic upscaling of the low-resolution patches
    /// and the true patches, each [N, 3, h, w] flattened.
    private func pairs(step: Int) throws -> (input: [Float], bicubic: [Float], truth: [Float]) {
        var input: [Float] = [], bicubic: [Float] = [], truth: [Float] = []
        for patch in try photos.batch(step: step, count: settings.batch, seed: settings.seed) {
            let low = Upscaler.degrade(Image(patch), scale: settings.scale)
            input += low.pixels.map { $0 / 255 - 0.5 }
            bicubic += Upscaler.bicubic(low, scale: settings.scale).pixels
            truth += patch.scalars
        }
        return (input, bicubic, truth)
    }

    public var checkpoint: UpscalerCheckpoint {
        UpscalerCheckpoint(model: model, optimizer: adam)
    }

    /// What the upscaler (and VGG19, for the perceptual loss) run in, e.g. "bf16" or "fp32 / VGG19 bf16".
    public var precision: String { Precision.label(network: compiled.precision, vgg: vgg?.precision) }

    public var model: UpscalerModel { UpscalerModel(network: network, settings: settings, steps: step) }
}
