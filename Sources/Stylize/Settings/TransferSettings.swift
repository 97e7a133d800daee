import Foundation

/// Everything that decides a `transfer` run except the images: the objective, the optimiser, the start, the size and
/// the coarse-to-fine stages. Defaults follow jcjohnson/neural-style.
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
        /// A given image, RGB 0...255 [3, H, W]: a previous result, or the coarser stage's (resized to fit).
        case image(Tensor)

        /// The blur of `.blurred` when none is given.
        public static let defaultBlur: Float = 4

        /// The starts a keyword names ("content", "noise", "blurred" with `blur`), or nil for other words (an
        /// image's path, to the command line).
        public init?(keyword: String, blur: Float = defaultBlur) {
            switch keyword {
            case "content": self = .content
            case "noise": self = .noise
            case "blurred": self = .blurred(sigma: blur)
            default: return nil
            }
        }
    }

    public var objective = ObjectiveSettings()
    /// The output's long side in pixels; the content photo is resized to it, the style images to it times `styleScale`.
    public var size = 512
    /// Each style image's long side relative to the output's: below 1 for finer brush strokes, above for bigger ones.
    public var styleScale: Float = 1
    /// Optimisation steps, in all (over all stages).
    public var iterations = 500
    public var optimizer = Optimizer.lbfgs
    /// How many past steps L-BFGS remembers; nil for `defaultLBFGSHistory`, or fewer when that would not fit in
    /// memory (`MemoryEstimate.fit`).
    public var lbfgsHistory: Int? = nil
    public static let defaultLBFGSHistory = 100
    /// L-BFGS's step length (1, as torch's lbfgs) or Adam's learning rate in preprocessed pixel units.
    public var learningRate: Float? = nil
    public var start = Start.content
    public var seed: UInt64 = 0
    /// Keep the content photo's colours (Gatys et al. 2017); nil transfers the style's colours too.
    public var preserveColors: ColorPreservation? = nil
    /// Paint in this many stages, coarse to fine, each half the size of the next (`CoarseToFine`).
    public var scales = 1
    /// Iterations per stage, coarsest first; nil splits `iterations` 4:2:1 (each stage twice the next).
    public var scaleIterations: [Int]? = nil
    /// Images (content, styles, masks, a start image) with more pixels than this are refused.
    public var maxPixels = Limits.defaultMaxPixels

    public init() {}

    /// Adam's default follows neural-style (learning rate 10 on the 0...255 scale); L-BFGS takes unit steps.
    public var effectiveLearningRate: Float { learningRate ?? (optimizer == .adam ? 10 : 1) }
    public var effectiveLBFGSHistory: Int { lbfgsHistory ?? Self.defaultLBFGSHistory }

    public func validate() throws {
        try objective.validate()
        try Limits.checkMaxPixels(maxPixels)
        try Check.range(size, 1...Limits.largestSide, "size")  // the output's pixels are checked with the photo's proportions
        try Check.positive(styleScale, "styleScale")
        try Check.that(styleScale <= 16, "styleScale", "must be at most 16, not \(styleScale)")
        try Check.range(iterations, 0...Limits.largestCount, "iterations")
        if let lbfgsHistory { try Check.range(lbfgsHistory, 1...10_000, "lbfgsHistory") }
        if let learningRate { try Check.positive(learningRate, "learningRate") }
        if case .blurred(let sigma) = start { try Check.blur(sigma, "initBlur") }
        _ = try stages()
    }

    /// The coarse-to-fine stages: `scales` of them, the last at `size`, each earlier one half the next. Without
    /// `scaleIterations`, `iterations` is split so that each stage gets twice the next one's (4:2:1 for three):
    /// coarse iterations are the cheap ones, and the fine stage starts from an image that is nearly done.
    public func stages() throws -> [CoarseToFine.Stage] {
        try Check.that(scales >= 1, "scales", "must be at least 1, not \(scales)")
        try Check.that(scales <= 16, "scales", "must be at most 16, not \(scales)")
        let sides = (0..<scales).map { max(1, size >> (scales - 1 - $0)) }
        try Check.that(sides[0] >= 32, "scales", "\(scales) of a \(size) px image start at \(sides[0]) px, too small for VGG19: use fewer")
        for side in sides {
            let styleSide = Int((Float(side) * styleScale).rounded())  // at most 16 · 2^17: no overflow
            try Check.that(styleSide >= 32, "styleScale",
                           "\(styleScale) makes the style images \(styleSide) px at the \(side) px stage, too small for VGG19: raise it or the size")
        }
        let counts: [Int]
        if let scaleIterations {
            try Check.that(scaleIterations.count == scales, "scaleIterations",
                           "must have one count per scale (\(scales)), not \(scaleIterations.count)")
            try Check.that(scaleIterations.allSatisfy { (0...Limits.largestCount).contains($0) }, "scaleIterations",
                           "must be between 0 and \(Limits.largestCount)")
            counts = scaleIterations
        } else {
            let shares = (0..<scales).map { 1 << (scales - 1 - $0) }
            let whole = shares.reduce(0, +)
            var split = shares.map { iterations * $0 / whole }
            split[0] += iterations - split.reduce(0, +)
            counts = split
        }
        return zip(sides, counts).map { CoarseToFine.Stage(longSide: $0, iterations: $1) }
    }

    /// The output's width and height for a photo of these proportions, checked against the pixel limit; and the style
    /// images', at the largest stage.
    public func checkImageSizes(content: (width: Int, height: Int), styles: [(width: Int, height: Int)]) throws {
        let output = MemoryEstimate.fitted(content, longSide: size)
        try Limits.checkPixels(width: output.width, height: output.height, maxPixels: maxPixels, setting: "maxPixels", what: "the output")
        let styleSide = max(1, Int((Float(size) * styleScale).rounded()))
        for style in styles {
            let resized = MemoryEstimate.fitted(style, longSide: styleSide)
            try Limits.checkPixels(width: resized.width, height: resized.height, maxPixels: maxPixels, setting: "maxPixels",
                                   what: "a style image at this style scale")
        }
    }

    /// `styleBlend` as text, "3,1": one weight per style image, checked; equal weights when nil.
    public static func blendWeights(_ list: String?, count: Int) throws -> [Float] {
        guard let list else { return [Float](repeating: 1, count: count) }
        let weights = list.split(separator: ",").map { Float($0.trimmingCharacters(in: .whitespaces)) }
        guard weights.count == count else {
            throw InvalidInput("styleBlend", "has \(weights.count) weight\(weights.count == 1 ? "" : "s") for \(count) style image\(count == 1 ? "" : "s")")
        }
        guard let values = weights as? [Float] else { throw InvalidInput("styleBlend", "'\(list)' should be numbers") }
        _ = try normalisedWeights(values)
        return values
    }

    /// The style weights as given (`styleBlend`), checked and normalised to sum 1.
    public static func normalisedWeights(_ weights: [Float]) throws -> [Float] {
        try Check.that(!weights.isEmpty, "styles", "must name at least one style image")
        try Check.that(weights.allSatisfy { $0 >= 0 && $0.isFinite }, "styleBlend", "weights must be non-negative numbers, not \(weights)")
        let total = weights.reduce(0, +)
        try Check.that(total > 0, "styleBlend", "weights add up to 0: at least one must be positive")
        return weights.map { $0 / total }
    }
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
