import ArgumentParser
import Foundation
import Stylize

struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train a feed-forward network for one style (Johnson et al. 2016), to stylize any photo in one pass.",
        discussion: """
            Each step stylizes --batch random crops of the photos in --photos, scores the results with the perceptual
            loss of `transfer` (VGG19 content, style and total-variation terms) and moves the network's weights with
            Adam. Every --checkpoint-every steps, and on Ctrl-C, it writes the model, a checkpoint (the model plus
            Adam's state) and the preview; `--resume` with the same flags continues from the checkpoint exactly.
            """
    )

    @Argument(help: "The style image (PNG or JPEG).")
    var style: String

    @Option(help: "A folder of photos (.jpg, .png, searched recursively) to train on.")
    var photos: String

    @Option(help: "Optimiser steps.")
    var steps = TrainingSettings().steps

    @Option(help: "Photo crops per step.")
    var batch = TrainingSettings().batch

    @Option(help: "Side of the square training crops, a multiple of 4.")
    var size = TrainingSettings().size

    @Option(help: "Long side of the style image when its Gram matrices are taken; larger gives finer strokes.")
    var styleSize = TrainingSettings().styleSize

    @Option(help: "Channel multiplier of the network (1: Johnson's 32-64-128 channels; 0.5 does a quarter of the work).")
    var width = TrainingSettings().width

    @Option(name: .customLong("lr"), help: "Adam's learning rate.")
    var learningRate = TrainingSettings().learningRate

    @Option(help: "Weight of the content term.")
    var contentWeight = TrainingSettings().contentWeight

    @Option(help: "Weight of the style term.")
    var styleWeight = TrainingSettings().styleWeight

    @Option(help: "Weight of the total-variation (smoothness) term.")
    var tvWeight = TrainingSettings().tvWeight

    @Option(help: "Comma-separated content layers, each optionally layer:weight.")
    var contentLayers = TrainingSettings().contentLayers

    @Option(help: "Comma-separated style layers, each optionally layer:weight.")
    var styleLayers = TrainingSettings().styleLayers

    @Option(help: "VGG19's pooling: max (as trained) or avg.")
    var pooling = TrainingSettings().pooling

    @Option(help: "Seed for the initial weights and the choice of crops.")
    var seed: UInt64 = 0

    @Option(help: "A photo to stylize at every checkpoint, written beside the model as NAME-preview.png.")
    var preview: String?

    @Option(help: "Long side of the preview in pixels.")
    var previewSize = 512

    @Option(help: "The VGG19 weights file (default: installed by `stylize weights`).")
    var weights: String?

    @OptionGroup var saving: TrainingRunOptions

    @OptionGroup var machine: MachineOptions

    func validate() throws {
        guard previewSize > 0 else { throw ValidationError("--preview-size must be positive") }
    }

    var settings: TrainingSettings {
        var settings = TrainingSettings()
        settings.steps = steps
        settings.batch = batch
        settings.size = size
        settings.styleSize = styleSize
        settings.width = width
        settings.learningRate = learningRate
        settings.contentWeight = contentWeight
        settings.styleWeight = styleWeight
        settings.tvWeight = tvWeight
        settings.contentLayers = contentLayers
        settings.styleLayers = styleLayers
        settings.pooling = pooling
        settings.seed = seed
        settings.style = URL(fileURLWithPath: style).lastPathComponent
        return settings
    }

    func run() throws {
        try runReportingErrors {
            machine.configure()
            let settings = self.settings
            try settings.validate()
            let previewPath = saving.besideOutput("-preview.png")
            try saving.checkWritable()
            if preview != nil { try ImageIO.checkWritable(previewPath) }
            let previewImage = try preview.map { try ImageIO.read($0).resized(longSide: previewSize) }
            let saved = saving.resume ? try TrainingCheckpoint(contentsOf: saving.checkpointURL) : nil
            let styleImage = try ImageIO.read(style).resized(longSide: settings.styleSize)
            let photoSet = try PhotoCrops(directory: photos, size: settings.size)
            let training = try FeedForwardTraining(settings: settings, vgg: try loadVGG19(weights), style: styleImage.tensor,
                                                   photos: photoSet, checkpoint: saved, precision: machine.precision)
            if !machine.quiet {
                stderr("training on \(photoSet.paths.count) photos from step \(training.step) to \(settings.steps), in \(training.precision)")
            }

            func save() throws {
                try training.checkpoint.write(to: saving.checkpointURL)
                try training.model.write(to: saving.outputURL)
                if let previewImage {
                    try ImageIO.write(try FeedForwardStylizer(network: training.network, precision: machine.precision).stylize(previewImage), to: previewPath)
                }
            }

            try saving.loop(steps: settings.steps, batch: settings.batch, quiet: machine.quiet).run(from: training.step, trainStep: {
                let terms = try training.trainStep()
                return (training.step, [("content", terms.content), ("style", terms.style), ("tv", terms.tv), ("total", terms.total),
                                        ("precision", training.precision)],
                        String(format: "loss %.4g", terms.total))
            }, save: save)
            if !machine.quiet { stderr("wrote \(saving.output)") }
        }
    }
}
