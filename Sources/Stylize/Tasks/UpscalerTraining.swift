import Foundation

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

extension UpscalerTerms: TrainingTerms {
    public var fields: [(String, Double)] {
        [("pixel", pixel), ("psnr", psnr), ("bicubic_psnr", bicubicPSNR), ("feature", feature), ("tv", tv), ("total", total)]
    }
    public var summary: String { String(format: "loss %.4g psnr %+.2f dB over bicubic", total, psnr - bicubicPSNR) }
}

/// Trains an `UpscalerNet` on pairs made from photos: a random high-resolution patch of a halved photo, and its
/// `Upscaler.degrade`d version, which the network must upscale back. Adam, with the whole batch in one pass of the
/// network (no normalisation layers, so the images of a batch are independent).
public typealias UpscalerTraining = Training<UpscalerLoss>

extension Training where Loss == UpscalerLoss {
    /// - Parameters:
    ///   - vgg: the VGG19 weights, needed for the perceptual loss only.
    ///   - checkpoint: a saved state to continue from, or nil for a new run.
    ///   - start: the weights a new run starts from (fine-tuning a trained network with another loss, as SRGAN
    ///     starts its perceptual training from a network trained on the pixel loss), or nil for fresh weights.
    ///   - precision: for the upscaler and VGG19, each resolved on its own under `auto`; not recorded with the
    ///     settings, so a run may be resumed in another precision.
    public convenience init(settings: UpscalerTrainingSettings, photos: PhotoCrops, vgg: VGG19?, checkpoint: UpscalerCheckpoint? = nil,
                            start: UpscalerNet? = nil, precision: Precision = .auto) throws {
        try self.init(settings: settings, checkpoint: checkpoint, fresh: {
            guard let start else {
                return try UpscalerNet(architecture: settings.architecture, scale: settings.scale, blocks: settings.blocks, seed: settings.seed)
            }
            guard start.architecture == settings.architecture, start.scale == settings.scale,
                  settings.architecture == .espcn || start.blocks == settings.blocks else {
                throw InvalidInput("startFrom", "is a \(start.description) upscaler, not \(UpscalerNet.describe(settings.architecture, scale: settings.scale, blocks: settings.blocks))")
            }
            return start
        }) { network in
            try UpscalerLoss(settings: settings, network: network, photos: photos, vgg: vgg, precision: precision)
        }
    }
}

/// An upscaler's loss on a batch of patches: the pixels' mean squared error against the true patch and, for the
/// perceptual loss, VGG19 features at one layer and total variation.
public final class UpscalerLoss: TrainingLoss {
    private let settings: UpscalerTrainingSettings
    private let compiled: CompiledNetwork
    private let vgg: VGG19Features?
    private let photos: PhotoCrops

    init(settings: UpscalerTrainingSettings, network: UpscalerNet, photos: PhotoCrops, vgg: VGG19?, precision: Precision) throws {
        guard photos.size == settings.patch, photos.preparation == .halved else {
            throw InvalidInput("the photo crops should be \(settings.patch) px patches of halved photos")
        }
        self.settings = settings
        self.photos = photos
        let low = settings.patch / settings.scale
        compiled = try CompiledNetwork.make(network.layers, parameters: network.parameters,
                                            inputShape: [settings.batch, 3, low, low], precision: precision, training: true)
        if settings.featureWeight > 0 {
            guard let vgg else { throw InvalidInput("the perceptual loss needs the VGG19 weights") }
            self.vgg = try VGG19Features(vgg, height: settings.patch, width: settings.patch, deepest: settings.featureLayer,
                                         pooling: settings.pooling, precision: precision, sharedBackwardWeights: false)
        } else {
            self.vgg = nil
        }
    }

    /// The whole batch in one pass; the gradients are of the batch's mean loss already.
    public func lossAndGradients(step: Int) throws -> (terms: UpscalerTerms, gradients: [String: Tensor], gradientScale: Float) {
        let (terms, gradients) = try lossAndGradients(batchOf: step)
        return (terms, gradients, 1)
    }

    public func setParameters(_ network: UpscalerNet) throws { try compiled.setParameters(network.parameters) }

    public var precision: String { Precision.label(network: compiled.precision, vgg: vgg?.precision) }

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
        let patches = try photos.batch(step: step, count: settings.batch, seed: settings.seed)
        // Blurring and resampling the patches is most of a small network's step outside oneDNN: one patch per thread.
        let pairs = parallelMap(patches) { patch in
            let low = Upscaler.degrade(Image(patch), scale: settings.scale)
            return (input: low.pixels.map { $0 / 255 - 0.5 }, bicubic: Upscaler.bicubic(low, scale: settings.scale).pixels)
        }
        return (pairs.flatMap(\.input), pairs.flatMap(\.bicubic), patches.flatMap(\.scalars))
    }
}
