import Foundation

/// Everything that decides what a style network's training run computes. Recorded in checkpoints and model files
/// (one line of JSON, the objective's fields beside the others), so that a model says how it was made and a resumed
/// run can check it continues the same one.
public struct TrainingSettings: Sendable, RecordedSettings, Equatable {
    /// Optimiser steps; each sees `batch` crops.
    public var steps = 2000
    public var batch = 4
    /// Side of the square training crops.
    public var size = 256
    /// Long side the style image is resized to before its Gram matrices are taken.
    public var styleSize = 512
    /// The network's channel multiplier (`TransformerNet.width`).
    public var width: Float = 1
    public var learningRate: Float = 1e-3
    /// The perceptual loss: `transfer`'s objective, with its defaults. Its algorithm and precision are not used:
    /// training runs VGG19's direct convolutions in the precision it is given.
    public var objective = ObjectiveSettings()
    public var seed: UInt64 = 0
    /// The style image's file name, for the record.
    public var style = ""
    /// The model file whose weights the run started from (fine-tuning), for the record; nil for fresh weights.
    public var startedFrom: String?
    /// The style model whose output the network learned to reproduce (`Distillation`), for the record; nil for a
    /// network trained on the perceptual loss. A distilled network's style, style size and objective are its
    /// teacher's: what it was made to minimise, at one remove.
    public var distilledFrom: String?

    public init() {}

    public func validate() throws {
        try Check.range(steps, 1...Limits.largestCount, "steps")
        try Check.range(batch, 1...Limits.largestBatch, "batch")
        try Check.range(size, 32...4096, "size")
        try Check.range(styleSize, 32...8192, "styleSize")
        try Check.that(size % TransformerNet.sizeMultiple == 0, "size", "must be a multiple of \(TransformerNet.sizeMultiple), not \(size)")
        try TransformerNet.checkWidth(width)
        try Check.positive(learningRate, "learningRate")
        try objective.validate()
    }

    private enum CodingKeys: String, CodingKey { case steps, batch, size, styleSize, width, learningRate, seed, style, startedFrom, distilledFrom }

    /// Every field is optional, so that files written before a setting existed still load (with the default).
    public init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let defaults = TrainingSettings()
        steps = try container.decode(.steps, or: defaults.steps)
        batch = try container.decode(.batch, or: defaults.batch)
        size = try container.decode(.size, or: defaults.size)
        styleSize = try container.decode(.styleSize, or: defaults.styleSize)
        width = try container.decode(.width, or: defaults.width)
        learningRate = try container.decode(.learningRate, or: defaults.learningRate)
        seed = try container.decode(.seed, or: defaults.seed)
        style = try container.decode(.style, or: defaults.style)
        startedFrom = try container.decodeIfPresent(String.self, forKey: .startedFrom)
        distilledFrom = try container.decodeIfPresent(String.self, forKey: .distilledFrom)
        objective = try ObjectiveSettings(from: decoder)
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(steps, forKey: .steps)
        try container.encode(batch, forKey: .batch)
        try container.encode(size, forKey: .size)
        try container.encode(styleSize, forKey: .styleSize)
        try container.encode(width, forKey: .width)
        try container.encode(learningRate, forKey: .learningRate)
        try container.encode(seed, forKey: .seed)
        try container.encode(style, forKey: .style)
        try container.encodeIfPresent(startedFrom, forKey: .startedFrom)
        try container.encodeIfPresent(distilledFrom, forKey: .distilledFrom)
        try objective.encode(to: encoder)
    }
}

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
    /// The residual architecture's residual blocks (ESPCN ignores it).
    public var blocks = UpscalerNet.defaultBlocks
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
    /// What is done to each patch at random: mirrored, or any of the eight mirrors and quarter turns.
    public var augmentation = PhotoCrops.Augmentation.mirror
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
        let defaults = UpscalerTrainingSettings()
        scale = try container.decode(.scale, or: defaults.scale)
        loss = try container.decode(.loss, or: defaults.loss)
        architecture = try container.decode(.architecture, or: defaults.architecture)
        blocks = try container.decode(.blocks, or: defaults.blocks)
        steps = try container.decode(.steps, or: defaults.steps)
        batch = try container.decode(.batch, or: defaults.batch)
        patch = try container.decode(.patch, or: defaults.patch)
        learningRate = try container.decode(.learningRate, or: defaults.learningRate)
        pixelWeight = try container.decode(.pixelWeight, or: defaults.pixelWeight)
        featureWeight = try container.decode(.featureWeight, or: defaults.featureWeight)
        featureLayer = try container.decode(.featureLayer, or: defaults.featureLayer)
        pooling = try container.decode(.pooling, or: defaults.pooling)
        tvWeight = try container.decode(.tvWeight, or: defaults.tvWeight)
        seed = try container.decode(.seed, or: defaults.seed)
        augmentation = try container.decode(.augmentation, or: defaults.augmentation)
        startedFrom = try container.decodeIfPresent(String.self, forKey: .startedFrom)
    }

    public func validate() throws {
        try UpscalerNet.check(scale: scale, blocks: blocks)
        try Check.that(architecture == .residual || blocks == UpscalerNet.defaultBlocks, "blocks", "needs the residual architecture")
        try Check.range(steps, 1...Limits.largestCount, "steps")
        try Check.range(batch, 1...Limits.largestBatch, "batch")
        try Check.range(patch, 1...2048, "patch")
        try Check.that(patch % scale == 0 && patch / scale >= 8, "patch",
                       "must be a multiple of the scale (\(scale)) and at least \(8 * scale), not \(patch)")
        try Check.positive(learningRate, "learningRate")
        try Check.nonNegative(pixelWeight, "pixelWeight")
        try Check.nonNegative(featureWeight, "featureWeight")
        try Check.nonNegative(tvWeight, "tvWeight")
        try Check.that(pixelWeight + featureWeight > 0, "pixelWeight", "and the feature weight must not both be 0")
        try Check.that(VGG19.reluLayers.contains(featureLayer), "featureLayer",
                       "names an unknown layer '\(featureLayer)'; VGG19's are \(VGG19.reluLayers.joined(separator: ","))")
        try Check.that(loss == .perceptual || featureWeight == 0, "featureWeight", "needs the perceptual loss")
    }
}

/// Training settings, kept in model files and checkpoints as one line of JSON (their "training" field).
public protocol RecordedSettings: Codable, Equatable {
    var steps: Int { get set }
    var learningRate: Float { get set }
    /// Images per step.
    var batch: Int { get }
    /// The model file a fine-tuning run started from, or nil.
    var startedFrom: String? { get }
    func validate() throws
}

extension RecordedSettings {
    /// One line, keys sorted, so that equal settings give equal text.
    public func json() -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try! encoder.encode(self), as: UTF8.self)
    }

    public static func fromJSON(_ text: String) throws -> Self {
        try JSONDecoder().decode(Self.self, from: Data(text.utf8))
    }

    /// Checks that a run saved with `saved` settings may continue under these. Only the number of steps (to train
    /// longer) and the learning rate (to lower it by hand for the last steps) may change; anything else would not
    /// continue the run.
    func checkResumable(from saved: Self) throws {
        var continued = saved
        continued.steps = steps
        continued.learningRate = learningRate
        guard continued == self else {
            let changes = continued.differences(from: self).map { "\($0.name) was \($0.this), now \($0.other)" }
            throw InvalidInput("the checkpoint was made with other settings (\(changes.joined(separator: "; "))); "
                               + "resume with the same ones")
        }
    }

    /// The recorded fields whose values differ from `other`'s, with both values as JSON text ("none" for a field one
    /// of them leaves out).
    func differences(from other: Self) -> [(name: String, this: String, other: String)] {
        func fields(_ settings: Self) -> [String: String] {
            let object = try! JSONSerialization.jsonObject(with: Data(settings.json().utf8)) as! [String: Any]
            return object.mapValues { value in
                let text = try! JSONSerialization.data(withJSONObject: value, options: [.fragmentsAllowed, .sortedKeys,
                                                                                       .withoutEscapingSlashes])
                return String(decoding: text, as: UTF8.self)
            }
        }
        let (mine, theirs) = (fields(self), fields(other))
        return Set(mine.keys).union(theirs.keys).sorted().compactMap { name in
            mine[name] == theirs[name] ? nil : (name, mine[name] ?? "none", theirs[name] ?? "none")
        }
    }
}

