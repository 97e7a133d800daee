import Foundation

/// A trained upscaler as a file: safetensors with the network's parameters, and in the metadata its format,
/// architecture and scale (all `upscale` needs) and how it was trained.
public struct UpscalerModel: Sendable {
    public static let format = "stylize-upscaler-model"
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

    public func write(to url: URL) throws { try file.write(to: url) }

    public init(contentsOf url: URL) throws {
        let file: SafetensorsFile
        do {
            file = try SafetensorsFile(contentsOf: url)
        } catch {
            throw EngineError(description: "cannot read the model \(url.path): \(error)")
        }
        do {
            try self.init(file, expecting: Self.format)
        } catch {
            throw EngineError(description: "\(url.path) is not a usable upscaler model: \(error)")
        }
    }

    init(_ file: SafetensorsFile, expecting format: String) throws {
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
                                  parameters: file.tensors.filter { !$0.key.hasPrefix(Adam.statePrefix) })
        settings = try UpscalerTrainingSettings.fromJSON(training)
        self.steps = steps
    }
}

/// An upscaler training run's state: the model so far plus Adam's, so that `--resume` continues exactly.
public struct UpscalerCheckpoint: Sendable {
    public static let format = "stylize-upscaler-checkpoint"
    public let model: UpscalerModel
    public let optimizer: Adam

    public init(model: UpscalerModel, optimizer: Adam) {
        self.model = model
        self.optimizer = optimizer
    }

    private var parameterCount: Int { model.network.parameters.values.map(\.count).reduce(0, +) }

    public var file: SafetensorsFile {
        var file = model.file
        file.metadata["format"] = Self.format
        optimizer.store(in: &file, parameterCount: parameterCount)
        return file
    }

    public func write(to url: URL) throws { try file.write(to: url) }

    public init(contentsOf url: URL) throws {
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw EngineError(description: "there is no checkpoint \(url.path) to resume from")
        }
        do {
            let file = try SafetensorsFile(contentsOf: url)
            model = try UpscalerModel(file, expecting: Self.format)
            optimizer = try Adam(learningRate: model.settings.learningRate, restoringFrom: file,
                                 parameterCount: model.network.parameters.values.map(\.count).reduce(0, +))
        } catch {
            throw EngineError(description: "cannot resume from \(url.path): \(error)")
        }
    }
}
