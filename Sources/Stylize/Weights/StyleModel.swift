import Foundation

/// A trained feed-forward style network as a file: safetensors with the network's parameters under PyTorch's names,
/// and in the metadata everything `apply` needs (format, architecture, width) and how it was trained.
public struct StyleModel: ModelFile {
    public static let format = "stylize-style-model"
    public static let checkpointFormat = "stylize-training-checkpoint"
    public static let kind = "style model"
    public let network: TransformerNet
    public let settings: TrainingSettings
    public let steps: Int

    public init(network: TransformerNet, settings: TrainingSettings, steps: Int) {
        self.network = network
        self.settings = settings
        self.steps = steps
    }

    public var file: SafetensorsFile {
        SafetensorsFile(tensors: network.parameters, metadata: [
            "format": Self.format, "architecture": TransformerNet.architecture, "width": "\(network.width)",
            "steps": "\(steps)", "training": settings.json(),
        ])
    }

    public var learningRate: Float { settings.learningRate }
    public var parameterCount: Int { network.parameters.values.map(\.count).reduce(0, +) }

    public init(_ file: SafetensorsFile, expecting format: String) throws {
        let metadata = file.metadata
        guard metadata["format"] == format else {
            throw EngineError(description: "its format is '\(metadata["format"] ?? "none")', not '\(format)'")
        }
        guard metadata["architecture"] == TransformerNet.architecture else {
            throw EngineError(description: "its architecture '\(metadata["architecture"] ?? "none")' is not \(TransformerNet.architecture)")
        }
        guard let width = metadata["width"].flatMap(Float.init), let steps = metadata["steps"].flatMap(Int.init),
              let training = metadata["training"] else {
            throw EngineError(description: "its metadata lacks width, steps or training")
        }
        network = try TransformerNet(width: width, parameters: Self.parameters(of: file))
        settings = try TrainingSettings.fromJSON(training)
        self.steps = steps
    }
}
