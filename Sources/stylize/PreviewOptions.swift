import ArgumentParser
import Foundation
import Stylize

/// The preview both style-network trainings write at every checkpoint: one photo through the network so far.
struct PreviewOptions: ParsableArguments {
    @Option(help: "A photo to stylize at every checkpoint, written beside the model as NAME-preview.png.")
    var preview: String?

    @Option(help: "Long side of the preview in pixels.")
    var previewSize = 512

    func validate() throws {
        try validating { try Check.range(previewSize, 16...8192, "previewSize") }
    }

    /// The preview's input, if any, for the check that no output overwrites an input.
    var inputs: [String] { preview.map { [$0] } ?? [] }

    /// Where it goes, for the same check.
    func outputs(_ saving: TrainingRunOptions) -> [(flag: String, path: String)] {
        preview != nil ? [("the preview", path(saving))] : []
    }

    private func path(_ saving: TrainingRunOptions) -> String { saving.besideOutput("-preview.png") }

    /// Reads the photo once, before training; returns what writes the preview of a network.
    func writer(_ saving: TrainingRunOptions, precision: Precision) throws -> (TransformerNet) throws -> Void {
        guard let image = try preview.map({ try ImageIO.read($0).resized(longSide: previewSize) }) else { return { _ in } }
        let path = path(saving)
        return { network in
            try ImageIO.write(try FeedForwardStylizer(network: network, precision: precision).stylize(image), to: path)
        }
    }
}
