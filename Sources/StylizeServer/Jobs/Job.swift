import Foundation

/// What a job does: the three tasks of the command line that make one image from uploads.
public enum JobKind: String, Codable, Sendable, CaseIterable {
    case transfer, apply, upscale
}

public enum JobStatus: String, Codable, Sendable, CaseIterable {
    case queued, running, done, failed, cancelled

    /// Finished for good: nothing will run it again.
    public var isFinal: Bool { self == .done || self == .failed || self == .cancelled }
}

/// A job as the store keeps it. Its inputs are files in its folder (`JobFolder`); its settings are the form fields it
/// was submitted with, already checked by the library, and parsed again by the same code when it runs.
public struct Job: Codable, Sendable, Equatable {
    public var id: String
    public var kind: JobKind
    public var status: JobStatus
    /// The settings as submitted, field name to text (`size` -> `512`).
    public var fields: [String: String]
    /// How many style images were uploaded (style-1, style-2, ...); transfer only.
    public var styles: Int
    /// Iterations done (transfer), tiles the network has done (upscale; `Upscaler.tileCount`) or images made
    /// (apply), of `total`.
    public var done: Int
    public var total: Int
    public var error: String?
    /// Asked to stop while running; a server killed before it stopped cancels it when it starts again.
    public var cancelRequested: Bool
    public var created: Date

    public init(id: String, kind: JobKind, fields: [String: String], styles: Int, total: Int, created: Date = Date()) {
        self.id = id
        self.kind = kind
        self.status = .queued
        self.fields = fields
        self.styles = styles
        self.done = 0
        self.total = total
        self.error = nil
        self.cancelRequested = false
        self.created = created
    }

    /// A new job id: 32 lowercase hexadecimal digits, random. Nothing else is ever taken as an id, so no path can be
    /// smuggled in through one.
    public static func newID() -> String {
        UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
    }

    public static func isValidID(_ text: some StringProtocol) -> Bool {
        text.utf8.count == 32 && text.utf8.allSatisfy { (48...57).contains($0) || (97...102).contains($0) }
    }
}
