import Foundation

/// Distillation (Hinton et al. 2015, "Distilling the knowledge in a neural network"): a transformer network, usually
/// a narrower one, learns to reproduce a trained style network's output on random crops of photos. The teacher has
/// already found what its objective asks of every photo; the student only has to copy it, in pixels and in VGG19's
/// relu2_2 features, which needs VGG19's first four convolutions instead of thirteen: a step costs a fraction of
/// one of `FeedForwardTraining`, and at width 0.5 the student does a quarter of the teacher's work per photo.
public typealias Distillation = Training<DistillationLoss>

extension Training where Loss == DistillationLoss {
    /// - Parameters:
    ///   - settings: the run's; its style and objective are the teacher's, for the record.
    ///   - teacher: the trained network whose output the new one learns.
    ///   - checkpoint: a saved state to continue from, or nil for a new run from fresh weights.
    ///   - precision: for both networks and VGG19, each resolved on its own under `auto`.
    public convenience init(settings: TrainingSettings, teacher: TransformerNet, vgg: VGG19, photos: PhotoCrops,
                            checkpoint: TrainingCheckpoint? = nil, precision: Precision = .auto) throws {
        try self.init(settings: settings, checkpoint: checkpoint, fresh: {
            try TransformerNet(width: settings.width, seed: settings.seed)
        }) { network in
            try DistillationLoss(settings: settings, teacher: teacher, student: network, vgg: vgg, photos: photos, precision: precision)
        }
    }
}

/// A distillation step's loss, averaged over its crops.
public struct DistillationTerms: TrainingTerms {
    /// Mean squared difference from the teacher's output, per pixel and channel, on the 0...255 scale.
    public var pixel = 0.0
    /// Mean squared difference of the two outputs' VGG19 relu2_2 features.
    public var feature = 0.0
    public var total: Double { DistillationLoss.pixelWeight * pixel + DistillationLoss.featureWeight * feature }
    public var fields: [(String, Double)] { [("pixel", pixel), ("feature", feature), ("total", total)] }
    public var summary: String { String(format: "loss %.4g", total) }
}

/// The difference between the student's and the teacher's outputs on a batch of crops, and its gradient for every
/// parameter of the student.
public final class DistillationLoss: TrainingLoss {
    /// The pixel term alone learns the teacher's colours and shapes first and its strokes last: distilling
    /// kandinsky-composition-viii to width 0.5, after 1,020 steps of 4 crops the student's output was still soft and
    /// its style loss 12 times the teacher's. The feature term sees the strokes; at equal weights it is about 13
    /// times the pixel term at the start, as the upscalers' perceptual loss keeps its pixel term the smaller one.
    public static let pixelWeight = 1.0, featureWeight = 1.0
    public static let featureLayer = "relu2_2"

    private let settings: TrainingSettings
    private let teacher: CompiledTransformerNet
    private let student: CompiledTransformerNet
    private let vgg: VGG19Features
    private let photos: PhotoCrops

    init(settings: TrainingSettings, teacher: TransformerNet, student: TransformerNet, vgg: VGG19, photos: PhotoCrops,
         precision: Precision) throws {
        self.settings = settings
        self.photos = photos
        self.teacher = try CompiledTransformerNet(teacher, height: settings.size, width: settings.size, precision: precision)
        self.student = try CompiledTransformerNet(student, height: settings.size, width: settings.size, precision: precision,
                                                  training: true)
        self.vgg = try VGG19Features(vgg, height: settings.size, width: settings.size, deepest: Self.featureLayer,
                                     pooling: settings.objective.pooling, precision: precision, sharedBackwardWeights: false)
    }

    /// The loss averaged over the batch; the gradients summed over it, with 1/batch as their scale.
    public func lossAndGradients(step: Int) throws -> (terms: DistillationTerms, gradients: [String: Tensor], gradientScale: Float) {
        let crops = try photos.batch(step: step, count: settings.batch, seed: settings.seed)
        var terms = DistillationTerms()
        var gradients = GradientSum()
        for crop in crops {
            let target = teacher.forward(crop)
            let output = student.forward(crop)
            let (pixel, pixelGradient) = meanSquaredError(output, target, weight: Float(Self.pixelWeight))
            let layer = Self.featureLayer
            let targetFeatures = try vgg.forward(VGG19.preprocess(target), returning: [layer])[layer]!
            let features = try vgg.forward(VGG19.preprocess(output), returning: [layer])[layer]!
            let (feature, featureGradient) = ContentLoss(target: targetFeatures, weight: Float(Self.featureWeight))(features)
            terms.pixel += pixel / Self.pixelWeight / Double(crops.count)
            terms.feature += feature / Self.featureWeight / Double(crops.count)
            var gradient = VGG19.gradientToRGB(try vgg.backward([layer: featureGradient]))
            gradient.scalars.add(pixelGradient.scalars)
            gradients.add(try student.backward(gradient))
        }
        return (terms, gradients.tensors, 1 / Float(crops.count))
    }

    public func setParameters(_ network: TransformerNet) throws { try student.setParameters(network) }

    public var precision: String { Precision.label(network: student.precision, vgg: vgg.precision) }
}
