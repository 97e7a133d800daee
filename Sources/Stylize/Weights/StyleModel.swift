import Foundation

/// A trained feed-forward style network as a file: safetensors with the network's parameters under PyTorch's names,
/// and in the metadata everything `apply` needs (format, architecture, width) and how it was trained.
public struct StyleModel: Sendable {
    public static let format = "stylize-style-model"
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
            throw EngineError(description: "\(url.path) is not a usable style model: \(error)")
        }
    }

    init(_ file: SafetensorsFile, expecting format: String) throws {
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
        let parameters = file.tensors.filter { !$0.key.hasPrefix(Adam.statePrefix) }
        network = try TransformerNet(width: width, parameters: parameters)
        settings = try TrainingSettings.fromJSON(training)
        self.steps = steps
    }
}

/// A training run's state: the model so far plus Adam's moments and step count, so that `--resume` continues
/// exactly where the run stopped (the batches depend only on the seed and the step).
public struct TrainingCheckpoint: Sendable {
    public static let format = "stylize-training-checkpoint"
    public let settings: TrainingSettings
    public let network: TransformerNet
    public let step: Int
    public let optimizer: Adam

    public init(settings: TrainingSettings, network: TransformerNet, step: Int, optimizer: Adam) {
        self.settings = settings
        self.network = network
        self.step = step
        self.optimizer = optimizer
    }

    public var file: SafetensorsFile {
        var file = StyleModel(network: network, settings: settings, steps: step).file
        file.metadata["format"] = Self.format
        optimizer.store(in: &file, parameterCount: network.parameters.values.map(\.count).reduce(0, +))
        return file
    }

    public func write(to url: URL) throws { try file.write(to: url) }

    public init(contentsOf url: URL) throws {
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw EngineError(description: "there is no checkpoint \(url.path) to resume from")
        }
        do {
            let file = try SafetensorsFile(contentsOf: url)
            let model = try StyleModel(file, expecting: Self.format)
            settings = model.settings
            network = model.network
            step = model.steps
            optimizer = try Adam(learningRate: model.settings.learningRate, restoringFrom: file,
                                 parameterCount: model.network.parameters.values.map(\.count).reduce(0, +))
        } catch {
            throw EngineError(description: "cannot resume from \(url.path): \(error)")
        }
    }
}
