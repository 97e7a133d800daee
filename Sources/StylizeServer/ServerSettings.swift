import Foundation
import Stylize

/// How `stylize serve` runs; the command line's `serve` options, checked here.
public struct ServerSettings: Sendable {
    public var host = "127.0.0.1"
    /// 0 asks the system for a free port (the tests do).
    public var port = 8080
    /// The folder of the job store, the uploads and the results.
    public var data = "stylize-data"
    public var maxUploadMb = 50
    /// Required on every API call and the page when set; required to be set when `host` is not a loopback address.
    public var token: String? = nil
    /// Jobs run at once; each takes all the cores it can get, so 1 suits a small machine.
    public var workers = 1
    /// Waiting jobs accepted before new ones get 429.
    public var maxQueued = 100
    /// Uploaded images with more pixels than this are refused (422) before a job is queued.
    public var maxPixels = Limits.defaultMaxPixels
    public var precision = Precision.auto
    /// How often a running transfer writes its image (the preview, and what a restarted job resumes from).
    public var previewSeconds = 1.0

    public init() {}

    public var maxUploadBytes: Int { maxUploadMb * 1_048_576 }

    public func validate() throws {
        try Check.range(port, 0...65_535, "port")
        try Check.range(maxUploadMb, 1...4096, "maxUploadMb")
        try Check.range(workers, 1...64, "workers")
        try Check.range(maxQueued, 1...100_000, "maxQueued")
        try Limits.checkMaxPixels(maxPixels)
        if let token {
            try Check.that(token.count >= 8 && token.allSatisfy { $0.isASCII && !$0.isWhitespace }, "token",
                           "must be at least 8 characters, without spaces")
        } else {
            try Check.that(Self.isLoopback(host), "token",
                           "is required when --host is not a loopback address ('\(host)'): anyone who can reach the port could run jobs")
        }
    }

    /// 127.0.0.0/8, ::1 and localhost: reachable from this machine only.
    public static func isLoopback(_ host: String) -> Bool {
        host == "localhost" || host == "::1" || host == "[::1]" || host.hasPrefix("127.")
    }
}
