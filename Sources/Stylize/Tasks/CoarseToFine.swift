/// One style as the user gave it, before any resizing.
public struct StyleSource: Sendable {
    public var image: Image
    /// Relative weight; all styles' weights are normalised to sum 1.
    public var weight: Float
    /// Where this style applies, drawn at any size: it is resized to the output at every stage.
    public var mask: StyleMask?

    public init(_ image: Image, weight: Float = 1, mask: StyleMask? = nil) {
        self.image = image
        self.weight = weight
        self.mask = mask
    }
}

/// Style transfer run coarse to fine: first at a fraction of the size, then each stage at twice the size,
/// starting from the previous stage's result upsampled. The coarse stages settle the layout cheaply (an
/// iteration at half the size costs a quarter), so the large final stage needs fewer iterations; one stage
/// is plain `StyleTransfer` at the full size.
public struct CoarseToFine {
    public struct Stage: Sendable, Equatable {
        /// The output's long side at this stage.
        public let longSide: Int
        public let iterations: Int

        public init(longSide: Int, iterations: Int) {
            self.longSide = longSide
            self.iterations = iterations
        }
    }

    /// `scales` stages, the last at `size`, each earlier one half the next. Without `stageIterations`,
    /// `iterations` is split so that each stage gets twice the next one's (4:2:1 for three): coarse
    /// iterations are the cheap ones, and the fine stage starts from an image that is nearly done.
    public static func plan(size: Int, scales: Int, iterations: Int, stageIterations: [Int]? = nil) throws -> [Stage] {
        guard scales >= 1 else { throw TransferError.invalid("--scales must be at least 1") }
        let sides = (0..<scales).map { max(1, size >> (scales - 1 - $0)) }
        guard sides[0] >= 32 else {
            throw TransferError.invalid("\(scales) scales of a \(size) px image start at \(sides[0]) px, too small for VGG19; use fewer scales")
        }
        let counts: [Int]
        if let stageIterations {
            guard stageIterations.count == scales else {
                throw TransferError.invalid("\(stageIterations.count) stage iteration counts for \(scales) scales")
            }
            guard stageIterations.allSatisfy({ $0 >= 0 }) else { throw TransferError.invalid("stage iteration counts must be >= 0") }
            counts = stageIterations
        } else {
            let shares = (0..<scales).map { 1 << (scales - 1 - $0) }
            let whole = shares.reduce(0, +)
            var split = shares.map { iterations * $0 / whole }
            split[0] += iterations - split.reduce(0, +)
            counts = split
        }
        return zip(sides, counts).map { Stage(longSide: $0, iterations: $1) }
    }

    public let stages: [Stage]
    public let settings: TransferSettings
    private let vgg: VGG19
    private let content: Image
    private let styles: [StyleSource]
    private let styleScale: Float

    /// - Parameters:
    ///   - content, styles: at their own sizes; each stage resizes them.
    ///   - styleScale: each style image's long side relative to the output's (1: the same).
    ///   - settings: its `iterations` is ignored (each stage has its own); a `.blurred` start's sigma is in
    ///     pixels of the final output, and an `.image` start may have any size.
    public init(vgg: VGG19, content: Image, styles: [StyleSource], styleScale: Float = 1, stages: [Stage],
                settings: TransferSettings) throws {
        guard !stages.isEmpty else { throw TransferError.invalid("no stage to run") }
        guard styleScale > 0 && styleScale.isFinite else { throw TransferError.invalid("the style scale must be a positive number") }
        for stage in stages where Int((Float(stage.longSide) * styleScale).rounded()) < 32 {
            throw TransferError.invalid("at style scale \(styleScale) the style images are \(Int((Float(stage.longSide) * styleScale).rounded())) px at the \(stage.longSide) px stage, too small for VGG19; raise the style scale or the size")
        }
        self.vgg = vgg
        self.content = content
        self.styles = styles
        self.styleScale = styleScale
        self.stages = stages
        self.settings = settings
    }

    /// Runs every stage. `observe` sees each iteration of each stage (the stage's index first) and returns
    /// false to stop early; the image so far is then returned, at the final size.
    /// Returns RGB 0...255 [3, H, W], not clamped, at the last stage's size.
    public func run(observe: (Int, TransferProgress) -> Bool = { _, _ in true }) throws -> Tensor {
        var previous: Image? = nil
        let finalContent = content.resized(longSide: stages.last!.longSide)
        for (index, stage) in stages.enumerated() {
            let stageContent = content.resized(longSide: stage.longSide)
            let (width, height) = (stageContent.width, stageContent.height)
            let styleSide = Int((Float(stage.longSide) * styleScale).rounded())
            let stageStyles = styles.map {
                StyleImage($0.image.resized(longSide: styleSide).tensor, weight: $0.weight,
                           mask: $0.mask.map { $0.width == width && $0.height == height ? $0 : $0.resized(width: width, height: height) })
            }
            var stageSettings = settings
            stageSettings.iterations = stage.iterations
            if let previous {
                stageSettings.start = .image(previous.resized(width: width, height: height).tensor)
            } else {
                switch settings.start {
                case .blurred(let sigma):
                    stageSettings.start = .blurred(sigma: sigma * Float(stage.longSide) / Float(stages.last!.longSide))
                case .image(let start):
                    stageSettings.start = .image(Image(start).resized(width: width, height: height).tensor)
                case .content, .noise:
                    break
                }
            }
            let transfer = try StyleTransfer(vgg: vgg, content: stageContent.tensor, styles: stageStyles, settings: stageSettings)
            var stopped = false
            let result = try transfer.run { progress in
                stopped = !observe(index, progress)
                return !stopped
            }
            previous = Image(result)
            if stopped { break }
        }
        let last = previous!
        return last.width == finalContent.width && last.height == finalContent.height
            ? last.tensor : last.resized(width: finalContent.width, height: finalContent.height).tensor
    }
}
