import Foundation

/// Gatys et al.'s optimisation-based style transfer: start from an image and move its pixels down the
/// objective's gradient until it has the content photo's features and the style image's Gram matrices.
public struct TransferSettings: Sendable {
    public enum Optimizer: String, Sendable, CaseIterable { case lbfgs, adam }
    public enum Start: Sendable, Equatable {
        /// The content photo itself.
        case content
        /// neural-style's random start: the mean colour plus Gaussian noise of standard deviation 0.001.
        case noise
        /// The content photo under a Gaussian blur of this many pixels (of the output): the seed document's
        /// guess that a start without the photo's fine detail gives a smoother optimisation.
        case blurred(sigma: Float)
        /// A given image, RGB 0...255 [3, H, W] at the output's size: a previous result, or the coarser stage's.
        case image(Tensor)
    }

    public var objective = ObjectiveSettings()
    public var iterations = 500
    public var optimizer = Optimizer.lbfgs
    public var lbfgsHistory = 100
    /// L-BFGS's step length (1, as torch's lbfgs) or Adam's learning rate in preprocessed pixel units.
    public var learningRate: Float? = nil
    public var start = Start.content
    public var seed: UInt64 = 0
    /// Keep the content photo's colours (Gatys et al. 2017); nil transfers the style's colours too.
    public var preserveColors: ColorPreservation? = nil

    public init() {}

    /// Adam's default follows neural-style (learning rate 10 on the 0...255 scale); L-BFGS takes unit steps.
    public var effectiveLearningRate: Float { learningRate ?? (optimizer == .adam ? 10 : 1) }
}

/// The two ways of keeping the photo's colours of Gatys et al. 2017, "Controlling Perceptual Factors in Neural
/// Style Transfer".
public enum ColorPreservation: String, Sendable, CaseIterable {
    /// Transfer on luminance only: content and style as grey images (the style's luminance first brought to the
    /// content's mean and deviation), then the content's chroma (YIQ's I and Q) put back on the result.
    case luminance
    /// Recolour each style image to the content's mean colour and colour covariance, then transfer in colour.
    case match
}

/// One style image and how it is used.
public struct StyleImage: Sendable {
    /// RGB 0...255 [3, h, w], at the size its features should be taken.
    public var image: Tensor
    /// Relative weight; all styles' weights are normalised to sum 1.
    public var weight: Float
    /// Where in the output this style applies, at the content's size; nil for everywhere.
    public var mask: StyleMask?

    public init(_ image: Tensor, weight: Float = 1, mask: StyleMask? = nil) {
        self.image = image
        self.weight = weight
        self.mask = mask
    }
}

/// What the caller sees after each iteration.
public struct TransferProgress {
    /// 0 is the start image, before any step.
    public let iteration: Int
    public let terms: ObjectiveTerms
    /// The format VGG19 runs in (`auto` resolved).
    public let precision: Precision
    public let seconds: Double
    /// The current image, RGB 0...255 [3, H, W] (not clamped); computed only when asked for.
    public let image: () -> Tensor
}

public enum TransferError: Error, CustomStringConvertible {
    case diverged(iteration: Int, terms: ObjectiveTerms)
    case invalid(String)

    public var description: String {
        switch self {
        case .invalid(let message):
            message
        case .diverged(let iteration, let terms):
            "the objective became \(terms.total) at iteration \(iteration) (content \(terms.content), style \(terms.style), tv \(terms.tv)); try smaller weights or learning rate"
        }
    }
}

public final class StyleTransfer {
    public let settings: TransferSettings
    public let objective: GatysObjective
    /// What the optimisation starts from and works on (grey when transferring luminance only), preprocessed.
    private let content: Tensor
    /// The colour photo whose chroma goes back on the result, when transferring luminance only.
    private let chromaSource: Image?

    /// - Parameters:
    ///   - content: the content photo, RGB 0...255 [3, H, W], at the output's size.
    ///   - style: the style image, RGB 0...255 [3, h, w], at the size its features should be taken.
    public convenience init(vgg: VGG19, content: Tensor, style: Tensor, settings: TransferSettings) throws {
        try self.init(vgg: vgg, content: content, styles: [StyleImage(style)], settings: settings)
    }

    /// Several styles, each with a weight (normalised here to sum 1) and optionally a mask.
    public init(vgg: VGG19, content: Tensor, styles: [StyleImage], settings: TransferSettings) throws {
        guard settings.iterations >= 0 else { throw EngineError(description: "iterations must be >= 0") }
        guard settings.lbfgsHistory > 0 else { throw EngineError(description: "the L-BFGS history must be > 0") }
        guard settings.effectiveLearningRate > 0 && settings.effectiveLearningRate.isFinite else {
            throw EngineError(description: "the learning rate must be a positive number")
        }
        guard !styles.isEmpty else { throw TransferError.invalid("no style image") }
        guard styles.allSatisfy({ $0.weight >= 0 && $0.weight.isFinite }) else {
            throw TransferError.invalid("style weights must be non-negative numbers, not \(styles.map(\.weight))")
        }
        let total = styles.reduce(Float(0)) { $0 + $1.weight }
        guard total > 0 else { throw TransferError.invalid("the style weights add up to 0: at least one must be positive") }
        for (index, style) in styles.enumerated() {
            if let mask = style.mask {
                guard mask.height == content.shape[1] && mask.width == content.shape[2] else {
                    throw TransferError.invalid("style \(index + 1)'s mask is \(mask.width)x\(mask.height), the output \(content.shape[2])x\(content.shape[1])")
                }
                guard !mask.isEmpty else { throw TransferError.invalid("style \(index + 1)'s mask is all black: the style would apply nowhere") }
            }
        }
        self.settings = settings
        let photo = Image(content)
        var styleImages = styles.map { Image($0.image) }
        switch settings.preserveColors {
        case nil:
            chromaSource = nil
            self.content = VGG19.preprocess(content)
        case .match:
            chromaSource = nil
            self.content = VGG19.preprocess(content)
            styleImages = styleImages.map { $0.matchingColors(of: photo) }
        case .luminance:
            chromaSource = photo
            let luminance = photo.luminance
            self.content = VGG19.preprocess(Image(width: photo.width, height: photo.height, grey: luminance).tensor)
            styleImages = styleImages.map {
                Image(width: $0.width, height: $0.height, grey: matchingMeanAndDeviation($0.luminance, to: luminance))
            }
        }
        let grams = try GatysObjective.styleTargets(vgg: vgg, styles: styleImages.map { VGG19.preprocess($0.tensor) },
                                                    settings: settings.objective)
        let targets = zip(styles, grams).map { StyleTarget(grams: $1, weight: $0.weight / total, mask: $0.mask) }
        objective = try GatysObjective(vgg: vgg, content: self.content, styles: targets, settings: settings.objective)
    }

    func startImage() throws -> Tensor {
        switch settings.start {
        case .content:
            return content
        case .noise:
            var random = SeededGenerator(seed: settings.seed)
            return Tensor(shape: content.shape, scalars: (0..<content.count).map { _ in 0.001 * random.normal() })
        case .blurred(let sigma):
            guard sigma >= 0 && sigma.isFinite else { throw TransferError.invalid("the start's blur must be >= 0 pixels, not \(sigma)") }
            return VGG19.preprocess(Image(VGG19.deprocess(content)).gaussianBlurred(sigma: sigma).tensor)
        case .image(let start):
            guard start.shape == content.shape else {
                throw TransferError.invalid("the start image is \(start.shape), the output \(content.shape)")
            }
            if chromaSource != nil {
                let image = Image(start)
                return VGG19.preprocess(Image(width: image.width, height: image.height, grey: image.luminance).tensor)
            }
            return VGG19.preprocess(start)
        }
    }

    /// The optimised image as the caller gets it: with the photo's chroma put back when transferring luminance.
    private func finished(_ x: Tensor) -> Tensor {
        let image = VGG19.deprocess(x)
        guard let chromaSource else { return image }
        return chromaSource.withLuminance(Image(image).luminance).tensor
    }

    /// Runs the optimisation. `observe` sees every iteration (0 included) and returns false to stop early.
    /// Returns the final image, RGB 0...255 [3, H, W], not clamped.
    public func run(observe: (TransferProgress) -> Bool = { _ in true }) throws -> Tensor {
        let clock = ContinuousClock.now
        DNNL.returnFreedMemory()
        var x = try startImage()
        var (terms, gradient) = try objective.evaluate(x)
        var lbfgs = LBFGS(history: settings.lbfgsHistory, learningRate: settings.effectiveLearningRate)
        var adam = Adam(learningRate: settings.effectiveLearningRate)
        var iteration = 0
        while true {
            guard terms.total.isFinite else { throw TransferError.diverged(iteration: iteration, terms: terms) }
            let current = x
            let elapsed = ContinuousClock.now - clock
            let progress = TransferProgress(iteration: iteration, terms: terms, precision: objective.precision,
                                            seconds: elapsed.seconds,
                                            image: { self.finished(current) })
            guard observe(progress), iteration < settings.iterations else { break }
            switch settings.optimizer {
            case .lbfgs: lbfgs.step(&x.scalars, gradient: gradient.scalars)
            case .adam: adam.step(&x.scalars, gradient: gradient.scalars)
            }
            (terms, gradient) = try objective.evaluate(x)
            iteration += 1
        }
        return finished(x)
    }
}
