import ArgumentParser
import Foundation
import Stylize

struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train a feed-forward network for one style (Johnson et al. 2016), to stylize any photo in one pass.",
        discussion: """
            Each step stylizes --batch random crops of the photos in --photos, scores the results with the perceptual \
            loss of `transfer` (VGG19 content, style and total-variation terms) and moves the network's weights with \
            Adam. Every --checkpoint-every steps, and on Ctrl-C, it writes the model, a checkpoint (the model plus \
            Adam's state) and the preview; `--resume` with the same flags continues from the checkpoint exactly.
            """
    )

    @Argument(help: "The style image (PNG or JPEG).")
    var style: String

    @OptionGroup var trainingOptions: StyleTrainingOptions

    private static let defaults = TrainingSettings()

    @Option(help: "Long side of the style image when its Gram matrices are taken; larger gives finer strokes.")
    var styleSize = defaults.styleSize

    @Option(help: "Channel multiplier of the network (1: Johnson's 32-64-128 channels; 0.5 does a quarter of the work).")
    var width = defaults.width

    @OptionGroup var objective: ObjectiveOptions

    @Option(help: "Start from this style model's weights (a bundled model's name or a file, of the same --width): fine-tunes it to this style or to other weights of the losses.")
    var startFrom: String?

    @OptionGroup var preview: PreviewOptions

    @OptionGroup var saving: TrainingRunOptions

    @OptionGroup var machine: MachineOptions

    /// The run's settings; `startFile` is `--start-from` resolved to its file.
    func settings(startFile: URL?) throws -> TrainingSettings {
        var settings = TrainingSettings()
        trainingOptions.apply(to: &settings)
        settings.styleSize = styleSize
        settings.width = width
        settings.objective = try objective.settings()
        settings.style = URL(fileURLWithPath: style).lastPathComponent
        settings.startedFrom = startFile?.lastPathComponent
        try settings.validate()
        return settings
    }

    func run() throws {
        try runReportingErrors(flags: ["learningRate": "lr"]) {
            machine.configure()
            let startFile = try saving.startFile(startFrom, .style)
            let settings = try self.settings(startFile: startFile)
            let saved = try saving.prepare(TransformerNet.self, inputs: [style] + preview.inputs + [startFile?.path].compactMap { $0 },
                                           otherOutputs: preview.outputs(saving))
            let start: TransformerNet? = try saving.startNetwork(startFile)
            let writePreview = try preview.writer(saving, precision: machine.precision)
            let styleImage = try ImageIO.read(style).resized(longSide: settings.styleSize)
            let photoSet = try trainingOptions.photoCrops(size: settings.size, saving: saving, quiet: machine.quiet)
            let training = try FeedForwardTraining(settings: settings, vgg: try loadVGG19(trainingOptions.weights), style: styleImage.tensor,
                                                   photos: photoSet, checkpoint: saved, start: start, precision: machine.precision)
            try saving.run(training, what: "on \(counted(photoSet.paths.count, "photo"))", quiet: machine.quiet) {
                try saving.save(training)
                try writePreview(training.network)
            }
        }
    }
}
