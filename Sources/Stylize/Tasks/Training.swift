import Foundation

/// A training step's loss as the loop sees it: a total to check, and the terms to log and show.
public protocol TrainingTerms: Sendable {
    var total: Double { get }
    /// The terms by name, in the order a log line lists them.
    var fields: [(String, Double)] { get }
    /// A few words for a progress line.
    var summary: String { get }
}

/// The part of a training run that is particular to a network: how the batch of a step is made, run through the
/// compiled network and scored, and the loss's gradient for every parameter.
public protocol TrainingLoss: AnyObject {
    associatedtype Network: TrainableNetwork
    associatedtype Terms: TrainingTerms
    /// The loss of the current parameters on the batch of step `step` (any step, done or not), and its gradient for
    /// every parameter, to be multiplied by `gradientScale`.
    func lossAndGradients(step: Int) throws -> (terms: Terms, gradients: [String: Tensor], gradientScale: Float)
    /// Takes the updated parameters into the compiled network.
    func setParameters(_ network: Network) throws
    /// What the network (and VGG19) run in, e.g. "bf16" or "fp32 / VGG19 bf16".
    var precision: String { get }
}

/// The parameter gradients of a batch whose images go through the network one at a time (instance normalisation
/// normalises each on its own), summed.
struct GradientSum {
    private var sums: [String: [Float]] = [:]

    mutating func add(_ gradients: [String: Tensor]) {
        for (name, gradient) in gradients { sums[name, default: []].add(gradient.scalars) }
    }

    var tensors: [String: Tensor] { sums.mapValues { Tensor(shape: [$0.count], scalars: $0) } }
}

/// A training run, whatever the network: Adam on the loss's gradients, step by step, with checkpoints that continue it
/// exactly and a check that the loss stays finite. `FeedForwardTraining`, `Distillation` and `UpscalerTraining` are this
/// with their losses plugged in.
public final class Training<Loss: TrainingLoss> {
    public typealias Network = Loss.Network
    public let settings: Network.Settings
    public private(set) var network: Network
    /// Steps done so far.
    public private(set) var step = 0
    public let loss: Loss
    private var adam: Adam

    /// - Parameters:
    ///   - checkpoint: a saved state to continue from (its settings must match but for steps and learning rate),
    ///     or nil for a new run, which starts from `fresh()`.
    ///   - makeLoss: the loss, given the network it starts from.
    public init(settings: Network.Settings, checkpoint: Checkpoint<Network>?, fresh: () throws -> Network,
                loss makeLoss: (Network) throws -> Loss) throws {
        try settings.validate()
        self.settings = settings
        if let checkpoint {
            try settings.checkResumable(from: checkpoint.model.settings)
            network = checkpoint.model.network
            step = checkpoint.model.steps
            adam = checkpoint.optimizer
            adam.learningRate = settings.learningRate
        } else {
            network = try fresh()
            adam = Adam(learningRate: settings.learningRate)
        }
        loss = try makeLoss(network)
    }

    /// One optimiser step over one batch; returns its loss. A step whose loss, gradients or new parameters are not
    /// all finite numbers is refused before anything changes: the network and Adam stay as the last good step left
    /// them (and so does whatever was saved from them).
    public func trainStep() throws -> Loss.Terms {
        let (terms, gradients, scale) = try loss.lossAndGradients(step: step)
        var nextAdam = adam
        let updated = nextAdam.step(network.parameters, gradients: gradients, gradientScale: scale)
        let problem = !terms.total.isFinite ? "the loss became \(terms.total)"
            : !gradients.values.allSatisfy(\.isFinite) ? "the gradients became NaN or infinite"
            : !updated.values.allSatisfy(\.isFinite) ? "the network's weights would become NaN or infinite" : nil
        if let problem { throw Diverged(problem: problem, step: step) }
        try network.update(updated)
        adam = nextAdam
        try loss.setParameters(network)
        step += 1
        return terms
    }

    /// A training step that would have made the network unusable.
    public struct Diverged: Error, CustomStringConvertible {
        public let problem: String
        /// The step refused; the network is as the one before it left it.
        public let step: Int
        public var description: String { "\(problem) at step \(step); try a smaller learning rate" }
    }

    /// The loss of the current network on the batch of step `batchStep` (any step, done or not), without training.
    public func loss(onBatchOf batchStep: Int) throws -> Loss.Terms {
        try loss.lossAndGradients(step: batchStep).terms
    }

    /// What a step reports to the caller's display and log.
    public struct StepReport {
        public let step: Int
        public let terms: Loss.Terms
        /// Since `run` started, and the images trained on per second in that time.
        public let seconds: Double
        public let imagesPerSecond: Double
    }

    /// Trains up to `settings.steps`: `report` after every step, `save` every `checkpointEvery` steps and once at the
    /// end, also when `shouldStop` (asked before each step) ends the run early. Returns whether it stopped early.
    public func run(checkpointEvery: Int, shouldStop: () -> Bool, report: (StepReport) -> Void, save: () throws -> Void) throws -> Bool {
        try Check.positive(checkpointEvery, "checkpointEvery")
        let (clock, firstStep) = (ContinuousClock.now, step)
        while step < settings.steps && !shouldStop() {
            let terms = try trainStep()
            let seconds = (ContinuousClock.now - clock).seconds
            report(StepReport(step: step, terms: terms, seconds: seconds,
                              imagesPerSecond: Double((step - firstStep) * settings.batch) / seconds))
            if step % checkpointEvery == 0 && step < settings.steps { try save() }
        }
        try save()
        return step < settings.steps
    }

    /// Everything needed to continue exactly from here.
    public var checkpoint: Checkpoint<Network> { Checkpoint(model: model, optimizer: adam) }

    /// The network so far as a model file's contents.
    public var model: Model<Network> { Model(network: network, settings: settings, steps: step) }

    public var precision: String { loss.precision }
}
