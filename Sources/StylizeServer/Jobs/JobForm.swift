import Foundation
import Stylize

/// A submitted job's form, as the multipart parser leaves it: text fields and uploaded files, each by field name in
/// the order sent.
public struct JobUpload: Sendable {
    public var fields: [String: [String]] = [:]
    public var files: [String: [Data]] = [:]

    public init() {}
}

/// Why a submission or a job was refused, with the HTTP status that says so.
public struct Refusal: Error, CustomStringConvertible {
    public enum Kind: Sendable { case badRequest, unprocessable }
    public let kind: Kind
    public let message: String
    public var description: String { message }

    /// The library's errors in the command line's words (`--style-scale must be at most 16, not 20`): a setting the
    /// library refuses is a bad request; an image that cannot be read or is too large, or a run that would not fit in
    /// memory, is a well-formed request that cannot be processed.
    public init(_ error: Error, uploads: [String: String] = [:]) {
        switch error {
        case let refusal as Refusal:
            self = refusal
        case let invalid as InvalidInput:
            kind = invalid.setting == "maxPixels" ? .unprocessable : .badRequest
            message = invalid.message(flags: ["maxPixels": "max-pixels"])
        case is ImageError, is MemoryEstimate.TooLarge:
            kind = .unprocessable
            // The library names files by their path; the client knows them by their field.
            message = uploads.reduce("\(error)") { $0.replacingOccurrences(of: "'\($1.key)'", with: "the \($1.value) upload") }
        default:
            kind = .unprocessable
            message = uploads.reduce("\(error)") { $0.replacingOccurrences(of: $1.key, with: "the \($1.value) upload") }
        }
    }

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }
}

/// A job's form fields, named like the command line's long options without the dashes (`size`, `style-scale`), turned
/// into the library's settings. Defaults and checks are the library's; the settings' names (`styleScale`) are
/// spelled as fields by `InvalidInput.kebab`, so the library's refusals name the field.
public enum JobForm {
    /// The fields each kind takes (besides `kind`); `style` may be a file or an example's name, `model` a file or a
    /// bundled model's name.
    public static let fields: [JobKind: [String]] = [
        .transfer: ["size", "iterations", "content-weight", "style-weight", "tv-weight", "style-scale", "style-blend",
                    "init", "init-blur", "preserve-colors", "optimizer", "learning-rate", "seed", "content-layers",
                    "style-layers", "pooling", "style"],
        .apply: ["model", "size", "margin"],
        .upscale: ["model", "scale", "self-ensemble"],
    ]

    /// The transfer settings a job's fields describe, checked. One stage (the server shows one image forming).
    public static func transferSettings(_ fields: [String: String], maxPixels: Int, precision: Precision) throws -> TransferSettings {
        let form = Fields(fields)
        var settings = TransferSettings()
        settings.objective.contentWeight = try form.number("contentWeight", or: settings.objective.contentWeight)
        settings.objective.styleWeight = try form.number("styleWeight", or: settings.objective.styleWeight)
        settings.objective.tvWeight = try form.number("tvWeight", or: settings.objective.tvWeight)
        settings.objective.contentLayers = try WeightedLayer.parseList(
            form.text("contentLayers") ?? WeightedLayer.listText(settings.objective.contentLayers), setting: "contentLayers")
        settings.objective.styleLayers = try WeightedLayer.parseList(
            form.text("styleLayers") ?? WeightedLayer.listText(settings.objective.styleLayers), setting: "styleLayers")
        settings.objective.pooling = try form.choice("pooling", or: settings.objective.pooling)
        settings.objective.precision = precision
        settings.size = try form.whole("size", or: settings.size)
        settings.styleScale = try form.number("styleScale", or: settings.styleScale)
        settings.iterations = try form.whole("iterations", or: settings.iterations)
        settings.optimizer = try form.choice("optimizer", or: settings.optimizer)
        settings.learningRate = try form.text("learningRate").map { _ in try form.number("learningRate", or: 0) }
        settings.seed = UInt64(try form.whole("seed", or: Int(settings.seed)))
        settings.preserveColors = try form.text("preserveColors").map { _ in try form.choice("preserveColors", or: ColorPreservation.luminance) }
        let blur = try form.number("initBlur", or: TransferSettings.Start.defaultBlur)
        let start = form.text("init") ?? "content"
        guard let keyword = TransferSettings.Start(keyword: start, blur: blur) else {
            throw InvalidInput("init", "must be content, noise or blurred, not '\(start)'")
        }
        settings.start = keyword
        settings.maxPixels = maxPixels
        try settings.validate()
        return settings
    }

    /// `size` of an apply job: the long side to resize the photo to, or nil to keep its size.
    public static func applySize(_ fields: [String: String]) throws -> Int? {
        let form = Fields(fields)
        guard form.text("size") != nil else { return nil }
        let size = try form.whole("size", or: 0)
        try Check.range(size, 1...Limits.largestSide, "size")
        return size
    }

    public static func margin(_ fields: [String: String]) throws -> Int {
        try Fields(fields).whole("margin", or: FeedForwardStylizer.defaultMargin)
    }

    /// A bundled model by its name, and nothing else: a client must not get the server to read a file of its choosing,
    /// as a path in the field would (the command line's `BundledModels.locate` takes paths).
    public static func bundled(_ name: String, _ kind: BundledModels.Kind) throws -> URL {
        let models = BundledModels.all(kind)
        guard let model = models.first(where: { $0.name == name }) else {
            throw InvalidInput("model", "'\(name)' is not a bundled \(kind.rawValue) model; bundled: \(models.map(\.name).joined(separator: ", "))")
        }
        return model.url
    }

    /// The model file of an apply or upscale job: the bundled model its `model` field names, or its upload; nil for
    /// neither (an upscale job then takes the bundled xN for its scale).
    public static func model(_ fields: [String: String], uploaded: String, _ kind: BundledModels.Kind) throws -> URL? {
        if let name = fields["model"] { return try bundled(name, kind) }
        return FileManager.default.fileExists(atPath: uploaded) ? URL(fileURLWithPath: uploaded) : nil
    }

    public static func scale(_ fields: [String: String]) throws -> Int? {
        let form = Fields(fields)
        return form.text("scale") == nil ? nil : try form.whole("scale", or: 0)
    }

    /// `upscale --self-ensemble`: "on" (what a ticked checkbox sends) or "off"; off when not sent.
    public static func selfEnsemble(_ fields: [String: String]) throws -> Bool {
        switch Fields(fields).text("selfEnsemble") {
        case nil, "off": return false
        case "on": return true
        case let text?: throw InvalidInput("selfEnsemble", "should be on or off, not '\(text)'")
        }
    }

    /// The text fields of one job, single-valued, read as the library's types.
    struct Fields {
        let values: [String: String]
        init(_ values: [String: String]) { self.values = values }

        /// The field of a setting (`styleScale` is `style-scale`), if sent and not blank.
        func text(_ setting: String) -> String? {
            values[InvalidInput.kebab(setting)].map { $0.trimmingCharacters(in: .whitespaces) }.flatMap { $0.isEmpty ? nil : $0 }
        }

        func whole(_ setting: String, or fallback: Int) throws -> Int {
            guard let text = text(setting) else { return fallback }
            guard let value = Int(text) else { throw InvalidInput(setting, "should be a whole number, not '\(text)'") }
            return value
        }

        func number(_ setting: String, or fallback: Float) throws -> Float {
            guard let text = text(setting) else { return fallback }
            guard let value = Float(text), value.isFinite else { throw InvalidInput(setting, "should be a number, not '\(text)'") }
            return value
        }

        func choice<T: RawRepresentable & CaseIterable>(_ setting: String, or fallback: T) throws -> T where T.RawValue == String {
            guard let text = text(setting) else { return fallback }
            guard let value = T(rawValue: text) else {
                throw InvalidInput(setting, "must be one of \(T.allCases.map(\.rawValue).joined(separator: ", ")), not '\(text)'")
            }
            return value
        }
    }
}
