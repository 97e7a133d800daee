import ArgumentParser
import Foundation
import Stylize

@main
struct StylizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stylize",
        abstract: "Neural style transfer and super-resolution on the CPU, with oneDNN.",
        discussion: """
            Start with `stylize weights` (downloads and checks the VGG19 weights, about 80 MB once), then `stylize transfer photo.jpg painting.jpg -o out.png`.
            """,
        subcommands: [TransferCommand.self, TrainCommand.self, DistillCommand.self, ApplyCommand.self, ModelsCommand.self,
                      UpscaleCommand.self, TrainUpscalerCommand.self, EvaluateUpscalerCommand.self,
                      WeightsCommand.self, MaskCommand.self, GridCommand.self, ServeCommand.self]
    )

    /// swift-argument-parser's main, but a refusal is one line ("stylize: error: ..."), as the commands' own errors
    /// are, rather than the message, the usage and a pointer to --help.
    static func main() {
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch {
            let code = exitCode(for: error)
            if code == .success {  // --help, help, --version
                print(fullMessage(for: error))
                Foundation.exit(0)
            }
            if !(error is ExitCode) {  // errors the commands reported themselves arrive as exit codes
                let text = message(for: error).split(separator: "\n").first.map(String.init) ?? "\(error)"
                FileHandle.standardError.write(Data("stylize: error: \(text) (see --help)\n".utf8))
            }
            Foundation.exit(code.rawValue)
        }
    }
}
