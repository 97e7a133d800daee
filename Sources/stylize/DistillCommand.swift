import ArgumentParser
import Foundation
import Stylize

struct DistillCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "distill",
        abstract: "Train a narrower style network to paint as a trained one does: the same style at a fraction of the cost per photo.",
        discussion: """
            Each step runs --batch random crops of the photos in --photos through the trained network (the teacher) \
            and through the new one, and moves the new one's weights with Adam towards the teacher's output, in \
            pixels and in VGG19's relu2_2 features. VGG19 runs to its fourth convolution instead of its thirteenth, so \
            a step is about twice as fast as one of `stylize train`. The new model records \
            the teacher's style and objective. Checkpoints, Ctrl-C and --resume work as for `stylize train`.
            """
    )

    @Argument(help: "The trained style model to learn from (a bundled model's name or a file).")
    var teacher: String

    @Option(help: "A folder of photos (.jpg, .png, searched recursively) to train on.")
    var photos: String

    private static let defaults = TrainingSettings()

    @Option(help: "Optimiser steps.")
    var steps = defaults.steps

    @Option(help: "Photo crops per step.")
    var batch = defaults.batch

    @Option(help: "Side of the square training crops, a multiple of 4.")
    var size = defaults.size

    @Option(help: "Channel multiplier of the new network (0.5 does a quarter of the teacher's work at width 1).")
    var width: Float = 0.5

    @Option(name: .customLong("lr"), help: "Adam's learning rate.")
    var learningRate = defaults.learningRate

    @Option(help: "Seed for the initial weights and the choice of crops.")
    var seed = defaults.seed

    @Option(help: "The VGG19 weights file (default: installed by `stylize weights`).")
    var weights: String?

    @OptionGroup var preview: PreviewOptions

    @OptionGroup var saving: TrainingRunOptions

    @OptionGroup var machine: MachineOptions

    /// The run's settings: the teacher's style and objective, this run's network and schedule.
    func settings(teacher: Model<TransformerNet>, file: URL) throws -> TrainingSettings {
        var settings = teacher.settings
        settings.steps = steps
        settings.batch = batch
        settings.size = size
        settings.width = width
        settings.learningRate = learningRate
        settings.seed = seed
        settings.startedFrom = nil
        settings.distilledFrom = file.lastPathComponent
        try settings.validate()
        return settings
    }

    func run() throws {
        try runReportingErrors(flags: ["learningRate": "lr"]) {
            machine.configure()
            let teacherFile = try BundledModels.locate(teacher, .style)
            let teacherModel = try Model<TransformerNet>(contentsOf: teacherFile)
            let settings = try self.settings(teacher: teacherModel, file: teacherFile)
            let saved = try saving.prepare(TransformerNet.self, inputs: [teacherFile.path] + preview.inputs,
                                           otherOutputs: preview.outputs(saving))
            let writePreview = try preview.writer(saving, precision: machine.precision)
            let photoSet = try PhotoCrops(directory: photos, size: settings.size)
            try saving.checkPhotos(photoSet, quiet: machine.quiet)
            let training = try Distillation(settings: settings, teacher: teacherModel.network, vgg: try loadVGG19(weights), photos: photoSet,
                                            checkpoint: saved, precision: machine.precision)
            try saving.run(training, what: "to paint as \(teacherFile.lastPathComponent), on \(photoSet.paths.count) photos",
                           quiet: machine.quiet) {
                try saving.save(training)
                try writePreview(training.network)
            }
        }
    }
}
