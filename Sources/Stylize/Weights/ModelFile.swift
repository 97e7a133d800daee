import Foundation

/// A network that training runs teach and model files hold: its parameters by name (PyTorch's), and the few metadata
/// fields that say how to rebuild it from them (its architecture, width or scale).
public protocol TrainableNetwork: Sendable {
    /// How its training runs are set up; recorded in its files.
    associatedtype Settings: RecordedSettings & Sendable
    /// The metadata's "format" for a model file, and for a checkpoint of one.
    static var modelFormat: String { get }
    static var checkpointFormat: String { get }
    /// "style model", "upscaler model": for messages.
    static var kind: String { get }
    var parameters: [String: Tensor] { get }
    mutating func update(_ parameters: [String: Tensor]) throws
    /// The fields, besides the parameters, that `init(metadata:parameters:)` needs.
    var metadata: [String: String] { get }
    init(metadata: [String: String], parameters: [String: Tensor]) throws
}

/// A trained network as a file: safetensors with the network's parameters under PyTorch's names, and in the metadata
/// its format, what rebuilds the network, the steps it was trained for and its training settings.
public struct Model<Network: TrainableNetwork>: Sendable {
    public let network: Network
    public let settings: Network.Settings
    public let steps: Int

    public init(network: Network, settings: Network.Settings, steps: Int) {
        self.network = network
        self.settings = settings
        self.steps = steps
    }

    public var file: SafetensorsFile {
        SafetensorsFile(tensors: network.parameters,
                        metadata: network.metadata.merging(["format": Network.modelFormat, "steps": "\(steps)", "training": settings.json()]) { $1 })
    }

    public var parameterCount: Int { network.parameters.values.map(\.count).reduce(0, +) }

    public func write(to url: URL) throws { try file.write(to: url) }

    /// Decodes a file whose metadata's "format" must be `format` (a model's, or a checkpoint's).
    init(_ file: SafetensorsFile, expecting format: String) throws {
        let metadata = file.metadata
        guard metadata["format"] == format else {
            throw InvalidInput("its format is '\(metadata["format"] ?? "none")', not '\(format)'")
        }
        guard let steps = metadata["steps"].flatMap(Int.init), let training = metadata["training"] else {
            throw InvalidInput("its metadata lacks steps or training")
        }
        guard (0...Limits.largestCount).contains(steps) else { throw InvalidInput("its step count \(steps) is out of range") }
        if let nonFinite = firstNonFinite(file.tensors) { throw InvalidInput(nonFinite) }
        // The file's tensors without a checkpoint's optimizer state: the network's parameters.
        network = try Network(metadata: metadata, parameters: file.tensors.filter { !$0.key.hasPrefix(Adam.statePrefix) })
        settings = try Network.Settings.fromJSON(training)
        self.steps = steps
    }

    /// Reads a model file, with a one-line error that names it.
    public init(contentsOf url: URL) throws {
        let file: SafetensorsFile
        do {
            file = try SafetensorsFile(contentsOf: url)
        } catch {
            throw InvalidInput("cannot read the model \(url.path): \(error)")
        }
        do {
            try self.init(file, expecting: Network.modelFormat)
        } catch {
            throw InvalidInput("\(url.path) is not a usable \(Network.kind): \(error)")
        }
    }
}

/// A training run's state: the model so far plus Adam's, so that `--resume` continues exactly where the run stopped
/// (the batches depend only on the seed and the step, which the model records).
public struct Checkpoint<Network: TrainableNetwork>: Sendable {
    public let model: Model<Network>
    public let optimizer: Adam

    public init(model: Model<Network>, optimizer: Adam) {
        self.model = model
        self.optimizer = optimizer
    }

    public var file: SafetensorsFile {
        var file = model.file
        file.metadata["format"] = Network.checkpointFormat
        optimizer.store(in: &file, parameterCount: model.parameterCount)
        return file
    }

    public func write(to url: URL) throws { try file.write(to: url) }

    public init(contentsOf url: URL) throws {
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw InvalidInput("there is no checkpoint \(url.path) to resume from")
        }
        do {
            let file = try SafetensorsFile(contentsOf: url)
            model = try Model(file, expecting: Network.checkpointFormat)
            optimizer = try Adam(learningRate: model.settings.learningRate, restoringFrom: file, parameterCount: model.parameterCount)
        } catch {
            throw InvalidInput("cannot resume from \(url.path): \(error)")
        }
    }
}

public typealias StyleModel = Model<TransformerNet>
public typealias UpscalerModel = Model<UpscalerNet>
public typealias TrainingCheckpoint = Checkpoint<TransformerNet>
public typealias UpscalerCheckpoint = Checkpoint<UpscalerNet>

extension TransformerNet: TrainableNetwork {
    public typealias Settings = TrainingSettings
    public static let modelFormat = "stylize-style-model"
    public static let checkpointFormat = "stylize-training-checkpoint"
    public static let kind = "style model"

    public var metadata: [String: String] { ["architecture": Self.architecture, "width": "\(width)"] }

    public init(metadata: [String: String], parameters: [String: Tensor]) throws {
        guard metadata["architecture"] == Self.architecture else {
            throw InvalidInput("its architecture '\(metadata["architecture"] ?? "none")' is not \(Self.architecture)")
        }
        guard let width = metadata["width"].flatMap(Float.init) else { throw InvalidInput("its metadata lacks the width") }
        try self.init(width: width, parameters: parameters)
    }
}

extension UpscalerNet: TrainableNetwork {
    public typealias Settings = UpscalerTrainingSettings
    public static let modelFormat = "stylize-upscaler-model"
    public static let checkpointFormat = "stylize-upscaler-checkpoint"
    public static let kind = "upscaler model"

    public var metadata: [String: String] {
        var metadata = ["architecture": architecture.fileName, "scale": "\(scale)"]
        if architecture == .residual { metadata["blocks"] = "\(blocks)" }
        return metadata
    }

    public init(metadata: [String: String], parameters: [String: Tensor]) throws {
        guard let architecture = Architecture.allCases.first(where: { $0.fileName == metadata["architecture"] }) else {
            throw InvalidInput("its architecture '\(metadata["architecture"] ?? "none")' is not one of \(Architecture.allCases.map(\.fileName))")
        }
        guard let scale = metadata["scale"].flatMap(Int.init) else { throw InvalidInput("its metadata lacks the scale") }
        var blocks = Self.defaultBlocks  // files from before the number was recorded
        if let text = metadata["blocks"] {
            guard let value = Int(text) else { throw InvalidInput("its metadata's blocks '\(text)' is not a number") }
            blocks = value
        }
        try self.init(architecture: architecture, scale: scale, blocks: blocks, parameters: parameters)
    }
}
