import ArgumentParser
import Foundation
import Stylize

/// The options `train` and `distill` share: the photos, the schedule, the seed and VGG19's weights.
struct StyleTrainingOptions: ParsableArguments {
    private static let defaults = TrainingSettings()

    @Option(help: "A folder of photos (.jpg, .png, searched recursively) to train on.")
    var photos: String

    @Option(help: "Optimiser steps.")
    var steps = defaults.steps

    @Option(help: "Photo crops per step.")
    var batch = defaults.batch

    @Option(help: "Side of the square training crops, a multiple of 4.")
    var size = defaults.size

    @Option(name: .customLong("lr"), help: "Adam's learning rate.")
    var learningRate = defaults.learningRate

    @Option(help: "Seed for the initial weights and the choice of crops.")
    var seed = defaults.seed

    @Option(help: "The VGG19 weights file (default: installed by `stylize weights`).")
    var weights: String?

    /// Sets the settings these options give.
    func apply(to settings: inout TrainingSettings) {
        settings.steps = steps
        settings.batch = batch
        settings.size = size
        settings.learningRate = learningRate
        settings.seed = seed
    }

    /// The photos, each read once to leave out (and report) the unusable ones.
    func photoCrops(size: Int, saving: TrainingRunOptions, quiet: Bool) throws -> PhotoCrops {
        let crops = try PhotoCrops(directory: photos, size: size)
        try saving.checkPhotos(crops, quiet: quiet)
        return crops
    }
}
