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
            it trains on two to three times as many crops per second as `stylize train`. The new model records the \
            teacher's style and objective. Checkpoints, Ctrl-C and --resume work as for `stylize train`.
            """
    )

    @Argument(help: "The trained style model to learn from (a bundled model's name or a file).")
    var teacher: String

    @OptionGroup var trainingOptions: StyleTrainingOptions

    @Option(help: "Channel multiplier of the new network (0.5 does a quarter of the teacher's work at width 1).")
    var width: Float = 0.5

    @OptionGroup var preview: PreviewOptions

    @OptionGroup var saving: TrainingRunOptions

    @OptionGroup var machine: MachineOptions

    /// The run's settings: the teacher's style and objective, this run's network and schedule.
    func settings(teacher: Model<TransformerNet>, file: URL) throws -> TrainingSettings {
        var settings = teacher.settings
        trainingOptions.apply(to: &settings)
        settings.width = width
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
            let photoSet = try trainingOptions.photoCrops(size: settings.size, saving: saving, quiet: machine.quiet)
            let training = try Distillation(settings: settings, teacher: teacherModel.network, vgg: try loadVGG19(trainingOptions.weights),
                                            photos: photoSet, checkpoint: saved, precision: machine.precision)
            try saving.run(training, what: "to paint as \(teacherFile.lastPathComponent), on \(counted(photoSet.paths.count, "photo"))",
                           quiet: machine.quiet) {
                try saving.save(training)
                try writePreview(training.network)
            }
        }
    }
}
