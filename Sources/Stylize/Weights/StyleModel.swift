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
        let parameters = file.tensors.filter { !$0.key.hasPrefix(TrainingCheckpoint.optimizerPrefix) }
        network = try TransformerNet(width: width, parameters: parameters)
        settings = try TrainingSettings.fromJSON(training)
        self.steps = steps
    }
}

/// A training run's state: the model so far plus Adam's moments and step count, so that `--resume` continues
/// exactly where the run stopped (the batches depend only on the seed and the step).
public struct TrainingCheckpoint: Sendable {
    public static let format = "stylize-training-checkpoint"
    static let optimizerPrefix = "optimizer."
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
        file.metadata["optimizer_iteration"] = "\(optimizer.iteration)"
        let count = network.parameters.values.map(\.count).reduce(0, +)
        // Before the first step Adam has no moments yet; zeros are what it would start from.
        let zeros = [Float](repeating: 0, count: count)
        file.tensors[Self.optimizerPrefix + "first_moment"] = Tensor(shape: [count], scalars: optimizer.firstMoment.isEmpty ? zeros : optimizer.firstMoment)
        file.tensors[Self.optimizerPrefix + "second_moment"] = Tensor(shape: [count], scalars: optimizer.secondMoment.isEmpty ? zeros : optimizer.secondMoment)
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
            guard let iteration = file.metadata["optimizer_iteration"].flatMap(Int.init),
                  let first = file.tensors[Self.optimizerPrefix + "first_moment"],
                  let second = file.tensors[Self.optimizerPrefix + "second_moment"],
                  first.count == second.count, first.count == model.network.parameters.values.map(\.count).reduce(0, +) else {
                throw EngineError(description: "the optimizer state is missing or has the wrong size")
            }
            settings = model.settings
            network = model.network
            step = model.steps
            optimizer = Adam(learningRate: model.settings.learningRate, iteration: iteration,
                             firstMoment: iteration == 0 ? [] : first.scalars, secondMoment: iteration == 0 ? [] : second.scalars)
        } catch {
            throw EngineError(description: "cannot resume from \(url.path): \(error)")
        }
    }
}
