import Foundation

/// One style image and how it is used.
public struct StyleImage: Sendable {
    /// At any size: `CoarseToFine` resizes it for each stage (`StyleTransfer` takes it at the size its features
    /// should be taken).
    public var image: Image
    /// Relative weight; all styles' weights are normalised to sum 1.
    public var weight: Float
    /// Where in the output this style applies, drawn at any size (resized to the output); nil for everywhere.
    public var mask: StyleMask?

    public init(_ image: Image, weight: Float = 1, mask: StyleMask? = nil) {
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

/// The objective stopped being a finite number: the weights or the step length are too large for this image.
public struct Diverged: Error, CustomStringConvertible {
    public let iteration: Int
    public let terms: ObjectiveTerms

    public var description: String {
        "the objective became \(terms.total) at iteration \(iteration) (content \(terms.content), style \(terms.style), tv \(terms.tv)); try smaller weights or learning rate"
    }
}

/// Gatys et al.'s optimisation-based style transfer at one size: start from an image and move its pixels down the
/// objective's gradient until it has the content photo's features and the style images' Gram matrices.
public final class StyleTransfer {
    public let settings: TransferSettings
    public let objective: GatysObjective
    /// What the optimisation starts from and works on (grey when transferring luminance only), preprocessed.
    private let content: Tensor
    /// The colour photo whose chroma goes back on the result, when transferring luminance only.
    private let chromaSource: Image?

    /// One style image, RGB 0...255 [3, h, w], at the size its features should be taken.
    public convenience init(vgg: VGG19, content: Tensor, style: Tensor, settings: TransferSettings) throws {
        try self.init(vgg: vgg, content: content, styles: [StyleImage(Image(style))], settings: settings)
    }

    /// - Parameters:
    ///   - content: the content photo, RGB 0...255 [3, H, W], at the output's size (`settings.size` and the stages
    ///     are `CoarseToFine`'s business).
    ///   - styles: at the size their features should be taken, each with a weight (normalised here to sum 1) and
    ///     optionally a mask at the content's size.
    public init(vgg: VGG19, content: Tensor, styles: [StyleImage], settings: TransferSettings) throws {
        try settings.objective.validate()
        try Check.nonNegative(settings.iterations, "iterations")
        if let history = settings.lbfgsHistory { try Check.positive(history, "lbfgsHistory") }
        try Check.positive(settings.effectiveLearningRate, "learningRate")
        if case .blurred(let sigma) = settings.start { try Check.nonNegative(sigma, "initBlur") }
        let weights = try TransferSettings.normalisedWeights(styles.map(\.weight))
        for (index, style) in styles.enumerated() {
            if let mask = style.mask {
                guard mask.height == content.shape[1] && mask.width == content.shape[2] else {
                    throw InvalidInput("styleMask", "of style \(index + 1) is \(mask.width)x\(mask.height), the output \(content.shape[2])x\(content.shape[1])")
                }
                try Check.that(!mask.isEmpty, "styleMask", "of style \(index + 1) is all black: the style would apply nowhere")
            }
        }
        self.settings = settings
        let photo = Image(content)
        var styleImages = styles.map(\.image)
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
        let targets = zip(styles, zip(grams, weights)).map { StyleTarget(grams: $1.0, weight: $1.1, mask: $0.mask) }
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
            return VGG19.preprocess(Image(VGG19.deprocess(content)).gaussianBlurred(sigma: sigma).tensor)
        case .image(let start):
            guard start.shape == content.shape else {
                throw InvalidInput("init", "is an image of \(start.shape), the output \(content.shape)")
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

    /// Tenfold shortenings of one L-BFGS step before the run is declared diverged: 1e-30 of the step.
    static let mostShortenings = 30

    /// Runs the optimisation. `observe` sees every iteration (0 included) and returns false to stop early.
    /// Returns the final image, RGB 0...255 [3, H, W], not clamped.
    public func run(observe: (TransferProgress) -> Bool = { _ in true }) throws -> Tensor {
        let clock = ContinuousClock.now
        DNNL.returnFreedMemory()
        var x = try startImage()
        var (terms, gradient) = try objective.evaluate(x)
        var lbfgs = LBFGS(history: settings.effectiveLBFGSHistory, learningRate: settings.effectiveLearningRate)
        var adam = Adam(learningRate: settings.effectiveLearningRate)
        var iteration = 0
        while true {
            guard terms.total.isFinite else { throw Diverged(iteration: iteration, terms: terms) }
            let current = x
            let elapsed = ContinuousClock.now - clock
            let progress = TransferProgress(iteration: iteration, terms: terms, precision: objective.precision,
                                            seconds: elapsed.seconds,
                                            image: { self.finished(current) })
            guard observe(progress), iteration < settings.iterations else { break }
            let before = terms.total
            switch settings.optimizer {
            case .lbfgs: lbfgs.step(&x.scalars, gradient: gradient.scalars)
            case .adam: adam.step(&x.scalars, gradient: gradient.scalars)
            }
            (terms, gradient) = try objective.evaluate(x)
            // A step that multiplied the objective tenfold (or more) was far too long (`LBFGS.shortenLastStep`):
            // shorten it tenfold until it is not. Ordinary runs never get here, in either precision.
            var shortenings = 0
            while settings.optimizer == .lbfgs && !(terms.total <= 10 * before) && shortenings < Self.mostShortenings {
                lbfgs.shortenLastStep(&x.scalars, by: 0.1)
                (terms, gradient) = try objective.evaluate(x)
                shortenings += 1
            }
            iteration += 1
        }
        return finished(x)
    }
}
