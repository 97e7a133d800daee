import ArgumentParser
import Stylize

@main
struct StylizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stylize",
        abstract: "Neural style transfer and super-resolution on the CPU, with oneDNN.",
        discussion: """
            Start with `stylize weights` (downloads and checks the VGG19 weights, about 80 MB once), then `stylize transfer photo.jpg painting.jpg -o out.png`.
            """,
        subcommands: [TransferCommand.self, TrainCommand.self, ApplyCommand.self, ModelsCommand.self,
                      UpscaleCommand.self, TrainUpscalerCommand.self, EvaluateUpscalerCommand.self,
                      WeightsCommand.self, MaskCommand.self, GridCommand.self]
    )
}
