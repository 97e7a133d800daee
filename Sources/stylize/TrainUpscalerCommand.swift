import ArgumentParser
import Foundation
import Stylize

extension UpscalerTrainingSettings.Loss: ExpressibleByArgument {}
extension UpscalerNet.Architecture: ExpressibleByArgument {}
extension PhotoCrops.Augmentation: ExpressibleByArgument {}

struct TrainUpscalerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train-upscaler",
        abstract: "Train a super-resolution network (sub-pixel convolution) on a folder of photos.",
        discussion: """
            The photos are halved first (JPEG's artifacts shrink below a pixel), then each step takes --batch random \
            --patch px patches, blurs them (Gaussian, sigma 1) and shrinks them --scale times with bicubic, and teaches \
            the network to restore them. --loss pixel trains the ESPCN network on mean squared error (the best PSNR); \
            --loss perceptual trains a deeper residual network on VGG19 features (sharper, lower PSNR). Keep some \
            photos out of --photos to measure the result with `stylize evaluate-upscaler`. Every --checkpoint-every \
            steps, and on Ctrl-C, it writes the model and a checkpoint; `--resume` with the same flags continues \
            exactly.
            """
    )

    @Option(help: "A folder of photos (.jpg, .png, searched recursively), each at least twice --patch on its short side.")
    var photos: String

    @Option(help: "The enlargement: 2, 3 or 4.")
    var scale = 4

    @Option(help: "pixel or perceptual.")
    var loss = UpscalerTrainingSettings.Loss.pixel

    @Option(help: "espcn or residual (default: espcn for the pixel loss, residual for the perceptual loss).")
    var architecture: UpscalerNet.Architecture?

    @Option(help: "Residual blocks of the residual architecture (EDSR's baseline has 16): deeper is sharper and slower.")
    var blocks = UpscalerNet.defaultBlocks

    @Option(help: "Optimiser steps.")
    var steps = UpscalerTrainingSettings().steps

    @Option(help: "High-resolution patch side, a multiple of --scale.")
    var patch = UpscalerTrainingSettings().patch

    @Option(help: "Patches per step (default: 16 for the pixel loss, 8 for the perceptual loss).")
    var batch: Int?

    @Option(name: .customLong("lr"), help: "Adam's learning rate (default: 0.001 for the pixel loss, 0.0001 for the perceptual loss).")
    var learningRate: Float?

    @Option(help: "Weight of the mean squared error of the pixels, on the 0...1 scale (default: 1 for pixel, 1000 for perceptual).")
    var pixelWeight: Float?

    @Option(help: "Weight of the VGG19 feature term (default: 0.001 for the perceptual loss).")
    var featureWeight: Float?

    @Option(help: "The VGG19 layer whose features the perceptual loss compares.")
    var featureLayer = UpscalerTrainingSettings().featureLayer

    @Option(help: "VGG19's pooling in the feature term: max (as trained) or avg.")
    var pooling = PoolingKind.max

    @Option(help: "Weight of the total-variation (smoothness) term on the output.")
    var tvWeight: Float = 0

    @Option(help: "Start from this model's weights (an upscaler of the same architecture and scale), e.g. the perceptual loss from a network trained on the pixel loss.")
    var startFrom: String?

    @Option(help: "Seed for the initial weights and the choice of patches.")
    var seed: UInt64 = 0

    @Option(help: "What is done to each patch at random: mirror (left-right, half of the time) or dihedral (any of the eight mirrors and quarter turns).")
    var augmentation = UpscalerTrainingSettings().augmentation

    @Option(help: "The VGG19 weights file, for the perceptual loss (default: installed by `stylize weights`).")
    var weights: String?

    @OptionGroup var saving: TrainingRunOptions

    @OptionGroup var machine: MachineOptions

    /// The run's settings; `startFile` is `--start-from` resolved to its file.
    func settings(startFile: URL?) throws -> UpscalerTrainingSettings {
        var settings = UpscalerTrainingSettings(scale: scale, loss: loss)
        if let architecture { settings.architecture = architecture }
        settings.blocks = blocks
        settings.steps = steps
        settings.patch = patch
        if let batch { settings.batch = batch }
        if let learningRate { settings.learningRate = learningRate }
        if let pixelWeight { settings.pixelWeight = pixelWeight }
        if let featureWeight { settings.featureWeight = featureWeight }
        settings.featureLayer = featureLayer
        settings.pooling = pooling
        settings.tvWeight = tvWeight
        settings.seed = seed
        settings.augmentation = augmentation
        settings.startedFrom = startFile?.lastPathComponent
        try settings.validate()
        return settings
    }

    func run() throws {
        try runReportingErrors(flags: ["learningRate": "lr"]) {
            machine.configure()
            let startFile = try saving.startFile(startFrom, .upscaler)
            let settings = try self.settings(startFile: startFile)
            let saved = try saving.prepare(UpscalerNet.self, inputs: [startFile?.path].compactMap { $0 })
            let start: UpscalerNet? = try saving.startNetwork(startFile)
            let patches = try PhotoCrops(directory: photos, size: settings.patch, preparation: .halved,
                                         augmentation: settings.augmentation)
            try saving.checkPhotos(patches, quiet: machine.quiet)
            let training = try UpscalerTraining(settings: settings, photos: patches,
                                                vgg: settings.featureWeight > 0 ? try loadVGG19(weights) : nil, checkpoint: saved, start: start,
                                                precision: machine.precision)
            try saving.run(training, what: "the \(settings.architecture) x\(settings.scale) upscaler (\(settings.loss) loss) on \(counted(patches.paths.count, "photo"))",
                           quiet: machine.quiet) { try saving.save(training) }
        }
    }
}
