import Foundation

/// A trained upscaler as a file: safetensors with the network's parameters, and in the metadata its format,
/// architecture and scale (all `upscale` needs) and how it was trained.
public struct UpscalerModel: ModelFile {
    public static let format = "stylize-upscaler-model"
    public static let checkpointFormat = "stylize-upscaler-checkpoint"
    public static let kind = "upscaler model"
    public let network: UpscalerNet
    public let settings: UpscalerTrainingSettings
    public let steps: Int

    public init(network: UpscalerNet, settings: UpscalerTrainingSettings, steps: Int) {
        self.network = network
        self.settings = settings
        self.steps = steps
    }

    public var file: SafetensorsFile {
        SafetensorsFile(tensors: network.parameters, metadata: [
            "format": Self.format, "architecture": network.architecture.fileName, "scale": "\(network.scale)",
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
        guard let architecture = UpscalerNet.Architecture.allCases.first(where: { $0.fileName == metadata["architecture"] }) else {
            throw EngineError(description: "its architecture '\(metadata["architecture"] ?? "none")' is not one of \(UpscalerNet.Architecture.allCases.map(\.fileName))")
        }
        guard let scale = metadata["scale"].flatMap(Int.init), let steps = metadata["steps"].flatMap(Int.init),
              let training = metadata["training"] else {
            throw EngineError(description: "its metadata lacks scale, steps or training")
        }
        network = try UpscalerNet(architecture: architecture, scale: scale,
                                  parameters: Self.parameters(of: file))
        settings = try UpscalerTrainingSettings.fromJSON(training)
        self.steps = steps
    }
}
