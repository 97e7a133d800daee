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
    }

    public var objective = ObjectiveSettings()
    public var iterations = 500
    public var optimizer = Optimizer.lbfgs
    public var lbfgsHistory = 100
    /// L-BFGS's step length (1, as torch's lbfgs) or Adam's learning rate in preprocessed pixel units.
    public var learningRate: Float? = nil
    public var start = Start.content
    public var seed: UInt64 = 0

    public init() {}

    /// Adam's default follows neural-style (learning rate 10 on the 0...255 scale); L-BFGS takes unit steps.
    public var effectiveLearningRate: Float { learningRate ?? (optimizer == .adam ? 10 : 1) }
}

/// What the caller sees after each iteration.
public struct TransferProgress {
    /// 0 is the start image, before any step.
    public let iteration: Int
    public let terms: ObjectiveTerms
    public let seconds: Double
    /// The current image, RGB 0...255 [3, H, W] (not clamped); computed only when asked for.
    public let image: () -> Tensor
}

public enum TransferError: Error, CustomStringConvertible {
    case diverged(iteration: Int, terms: ObjectiveTerms)

    public var description: String {
        switch self {
        case .diverged(let iteration, let terms):
            "the objective became \(terms.total) at iteration \(iteration) (content \(terms.content), style \(terms.style), tv \(terms.tv)); try smaller weights or learning rate"
        }
    }
}

public final class StyleTransfer {
    public let settings: TransferSettings
    public let objective: GatysObjective
    private let content: Tensor

    /// - Parameters:
    ///   - content: the content photo, RGB 0...255 [3, H, W], at the output's size.
    ///   - style: the style image, RGB 0...255 [3, h, w], at the size its features should be taken.
    public init(vgg: VGG19, content: Tensor, style: Tensor, settings: TransferSettings) throws {
        guard settings.iterations >= 0 else { throw EngineError(description: "iterations must be >= 0") }
        guard settings.lbfgsHistory > 0 else { throw EngineError(description: "the L-BFGS history must be > 0") }
        guard settings.effectiveLearningRate > 0 && settings.effectiveLearningRate.isFinite else {
            throw EngineError(description: "the learning rate must be a positive number")
        }
        self.settings = settings
        self.content = VGG19.preprocess(content)
        let grams = try GatysObjective.styleTargets(vgg: vgg, style: VGG19.preprocess(style), settings: settings.objective)
        objective = try GatysObjective(vgg: vgg, content: self.content, styleGrams: grams, settings: settings.objective)
    }

    func startImage() -> Tensor {
        switch settings.start {
        case .content:
            return content
        case .noise:
            var random = SeededGenerator(seed: settings.seed)
            return Tensor(shape: content.shape, scalars: (0..<content.count).map { _ in 0.001 * random.normal() })
        }
    }

    /// Runs the optimisation. `observe` sees every iteration (0 included) and returns false to stop early.
    /// Returns the final image, RGB 0...255 [3, H, W], not clamped.
    public func run(observe: (TransferProgress) -> Bool = { _ in true }) throws -> Tensor {
        let clock = ContinuousClock.now
        var x = startImage()
        var (terms, gradient) = try objective.evaluate(x)
        var lbfgs = LBFGS(history: settings.lbfgsHistory, learningRate: settings.effectiveLearningRate)
        var adam = Adam(learningRate: settings.effectiveLearningRate)
        var iteration = 0
        while true {
            guard terms.total.isFinite else { throw TransferError.diverged(iteration: iteration, terms: terms) }
            let current = x
            let elapsed = ContinuousClock.now - clock
            let progress = TransferProgress(iteration: iteration, terms: terms,
                                            seconds: Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18,
                                            image: { VGG19.deprocess(current) })
            guard observe(progress), iteration < settings.iterations else { break }
            switch settings.optimizer {
            case .lbfgs: lbfgs.step(&x.scalars, gradient: gradient.scalars)
            case .adam: adam.step(&x.scalars, gradient: gradient.scalars)
            }
            (terms, gradient) = try objective.evaluate(x)
            iteration += 1
        }
        return VGG19.deprocess(x)
    }
}
