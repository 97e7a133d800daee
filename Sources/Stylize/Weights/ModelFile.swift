import Foundation

/// What the two kinds of trained model (style networks and upscalers) share: a safetensors file with the network's
/// parameters and, in the metadata, a format name, the architecture and the training settings; read with one-line
/// errors that name the file; and checkpoints that add Adam's state.
public protocol ModelFile: Sendable {
    /// The metadata's "format" for a model file, and for a checkpoint of one.
    static var format: String { get }
    static var checkpointFormat: String { get }
    /// "style model", "upscaler model": for messages.
    static var kind: String { get }
    var file: SafetensorsFile { get }
    /// The training settings' learning rate, which a resumed run starts from.
    var learningRate: Float { get }
    var parameterCount: Int { get }
    /// Decodes a file whose metadata's "format" must be `format`.
    init(_ file: SafetensorsFile, expecting format: String) throws
}

extension ModelFile {
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
            throw EngineError(description: "\(url.path) is not a usable \(Self.kind): \(error)")
        }
    }

    /// The file's tensors without a checkpoint's optimizer state: the network's parameters.
    static func parameters(of file: SafetensorsFile) -> [String: Tensor] {
        file.tensors.filter { !$0.key.hasPrefix(Adam.statePrefix) }
    }
}

/// A training run's state: the model so far plus Adam's, so that `--resume` continues exactly where the run stopped
/// (the batches depend only on the seed and the step, which the model records).
public struct Checkpoint<Model: ModelFile>: Sendable {
    public let model: Model
    public let optimizer: Adam

    public init(model: Model, optimizer: Adam) {
        self.model = model
        self.optimizer = optimizer
    }

    public var file: SafetensorsFile {
        var file = model.file
        file.metadata["format"] = Model.checkpointFormat
        optimizer.store(in: &file, parameterCount: model.parameterCount)
        return file
    }

    public func write(to url: URL) throws { try file.write(to: url) }

    public init(contentsOf url: URL) throws {
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw EngineError(description: "there is no checkpoint \(url.path) to resume from")
        }
        do {
            let file = try SafetensorsFile(contentsOf: url)
            model = try Model(file, expecting: Model.checkpointFormat)
            optimizer = try Adam(learningRate: model.learningRate, restoringFrom: file, parameterCount: model.parameterCount)
        } catch {
            throw EngineError(description: "cannot resume from \(url.path): \(error)")
        }
    }
}

public typealias TrainingCheckpoint = Checkpoint<StyleModel>
public typealias UpscalerCheckpoint = Checkpoint<UpscalerModel>
