import Foundation
import Stylize

/// Turns an upload into a queued job, or refuses it with the reason: the fields are parsed and checked by the library
/// (`JobForm`), the images decoded and checked against the pixel limit, a transfer's memory estimated, a model file
/// read; only then is the upload's folder renamed to the job's and the job stored. Nothing is queued that would fail
/// for its input.
public struct JobIntake: Sendable {
    public let store: any JobStore
    public let folders: JobFolders
    public let settings: ServerSettings

    public init(store: any JobStore, folders: JobFolders, settings: ServerSettings) {
        self.store = store
        self.folders = folders
        self.settings = settings
    }

    public func accept(_ upload: JobUpload) throws -> Job {
        let (kind, fields) = try Self.fields(of: upload)
        guard let content = upload.files["content"], content.count == 1 else {
            throw Refusal(.badRequest, "send one photo as the file field 'content'")
        }
        let incoming = try folders.newIncoming()
        var labels: [String: String] = [:]  // staged file -> what the client calls it
        func stage(_ data: Data, as name: String, label: String) throws -> String {
            let path = incoming.appendingPathComponent(name).path
            try data.write(to: URL(fileURLWithPath: path))
            labels[path] = label
            return path
        }
        /// The job's model file: its upload (staged) or the bundled model named in its `model` field; nil for neither.
        func stageModel() throws -> URL? {
            guard let file = upload.files["model"] else {
                return try fields["model"].map { try JobForm.bundled($0, kind == .apply ? .style : .upscaler) }
            }
            guard file.count == 1, fields["model"] == nil else { throw Refusal(.badRequest, "send one model: a file or a name") }
            return URL(fileURLWithPath: try stage(file[0], as: "model", label: "model"))
        }
        do {
            let contentPath = try stage(content[0], as: "content", label: "content")
            let photo = try ImageIO.read(contentPath, maxPixels: settings.maxPixels)
            var styles = 0, total = 1
            switch kind {
            case .transfer:
                let named = try (upload.fields["style"] ?? []).map { name in
                    guard let path = Examples.path(of: name) else {
                        throw Refusal(.badRequest, "the style '\(name)' is neither an uploaded file nor an example (\(Examples.all().map(\.name).joined(separator: ", ")))")
                    }
                    return try Data(contentsOf: URL(fileURLWithPath: path))
                }
                let images = (upload.files["style"] ?? []) + named
                guard !images.isEmpty else {
                    throw Refusal(.badRequest, "a transfer needs a style: a file or an example's name in the field 'style'")
                }
                styles = images.count
                let transfer = try JobForm.transferSettings(fields, maxPixels: settings.maxPixels, precision: settings.precision)
                _ = try TransferSettings.blendWeights(fields["style-blend"], count: styles)
                let sizes = try images.enumerated().map { index, data in
                    let image = try ImageIO.read(try stage(data, as: "style-\(index + 1)", label: "style \(index + 1)"),
                                                 maxPixels: settings.maxPixels)
                    return (width: image.width, height: image.height)
                }
                let content = (width: photo.width, height: photo.height)
                try transfer.checkImageSizes(content: content, styles: sizes)
                _ = try MemoryEstimate.fit(transfer, content: content, styles: sizes)
                total = transfer.iterations
            case .apply:
                let model = try stageModel()
                guard let model else {
                    throw Refusal(.badRequest, "an apply job needs a model: a bundled model's name or a model file in the field 'model'")
                }
                let stylizer = try FeedForwardStylizer(network: try StyleModel(contentsOf: model).network,
                                                       margin: try JobForm.margin(fields), maxPixels: settings.maxPixels)
                if let size = try JobForm.applySize(fields) {
                    let resized = MemoryEstimate.fitted((photo.width, photo.height), longSide: size)
                    try Limits.checkPixels(width: resized.width + 2 * stylizer.margin, height: resized.height + 2 * stylizer.margin,
                                           maxPixels: settings.maxPixels, setting: "maxPixels", what: "the resized photo with its margins")
                }
            case .upscale:
                // A bundled upscaler by name, an uploaded one, or the bundled xN for `scale`.
                let network = try Upscaler.network(model: try stageModel()?.path, scale: try JobForm.scale(fields))
                try Limits.checkPixels(width: photo.width * network.scale, height: photo.height * network.scale,
                                       maxPixels: settings.maxPixels, setting: "maxPixels", what: "the result")
                total = Upscaler(network: network, selfEnsemble: try JobForm.selfEnsemble(fields)).tileCount(photo)
            }
            // Checked again here, not only before the upload was read: two uploads may have raced for the last place.
            try checkQueueRoom()
            let job = Job(id: Job.newID(), kind: kind, fields: fields, styles: styles, total: total)
            try folders.adopt(incoming, as: job.id)
            do { try store.add(job) } catch { folders.discard(folders.folder(job.id)); throw error }
            return job
        } catch {
            folders.discard(incoming)
            throw Refusal(error, uploads: labels)
        }
    }

    /// 429 past `maxQueued` waiting jobs.
    public func checkQueueRoom() throws {
        let queued = try store.queuedCount()
        if queued >= settings.maxQueued { throw QueueFull(queued: queued) }
    }

    public struct QueueFull: Error, CustomStringConvertible {
        public let queued: Int
        public var description: String { "the queue is full (\(queued) jobs waiting); try again when some have run" }
    }

    /// The job's kind and its single-valued text fields (`style` may repeat, and is handled by the caller); unknown
    /// and repeated fields are refused, so that a typing mistake is not silently a default.
    static func fields(of upload: JobUpload) throws -> (JobKind, [String: String]) {
        guard let kindText = upload.fields["kind"]?.first else {
            throw Refusal(.badRequest, "the field 'kind' is missing: transfer, apply or upscale")
        }
        guard let kind = JobKind(rawValue: kindText) else {
            throw Refusal(.badRequest, "the field 'kind' is '\(kindText)': it must be transfer, apply or upscale")
        }
        let known = Set(JobForm.fields[kind]! + ["kind", "content"])
        for name in Set(upload.fields.keys).union(upload.files.keys).sorted() where !known.contains(name) {
            throw Refusal(.badRequest, "unknown field '\(name)' for a \(kind.rawValue) job; it takes \(JobForm.fields[kind]!.joined(separator: ", "))")
        }
        var fields: [String: String] = [:]
        for (name, values) in upload.fields where name != "kind" && name != "style" {
            guard values.count == 1 else { throw Refusal(.badRequest, "the field '\(name)' was sent \(values.count) times") }
            fields[name] = values[0]
        }
        return (kind, fields)
    }
}
