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

    public let stages: [Stage]
    public let settings: TransferSettings
    private let vgg: VGG19
    private let content: Image
    private let styles: [StyleImage]

    /// - Parameters:
    ///   - content, styles: at their own sizes (masks too); each stage resizes them.
    ///   - settings: the stages come from its size, scales and iterations; a `.blurred` start's sigma is in
    ///     pixels of the final output, and an `.image` start may have any size.
    public init(vgg: VGG19, content: Image, styles: [StyleImage], settings: TransferSettings) throws {
        try settings.validate()
        try settings.checkImageSizes(content: (content.width, content.height), styles: styles.map { ($0.image.width, $0.image.height) })
        _ = try TransferSettings.normalisedWeights(styles.map(\.weight))
        for (index, style) in styles.enumerated() where style.mask?.isEmpty == true {
            throw InvalidInput("styleMask", "of style \(index + 1) is all black: the style would apply nowhere")
        }
        self.vgg = vgg
        self.content = content
        self.styles = styles
        self.stages = try settings.stages()
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
            let styleSide = Int((Float(stage.longSide) * settings.styleScale).rounded())
            let stageStyles = styles.map {
                StyleImage($0.image.resized(longSide: styleSide), weight: $0.weight,
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
