import Foundation
import Stylize

/// The files under `--data`: the store (`jobs.sqlite`), one folder per job (`jobs/ID/`) with its uploads, named by
/// what they are and never by the client's file name (`content`, `style-1`, `style-2`, ..., `model`), its preview
/// (`preview.png`, the latest image of a running transfer) and its result (`result.png`); and `incoming/`, where an
/// upload waits while it is checked. A job's folder is renamed into place whole before the job is stored, and
/// every image is written under a temporary name and renamed, so nothing half-written is ever served or resumed from.
public struct JobFolders: Sendable {
    public let root: URL

    public init(data: String) throws {
        root = URL(fileURLWithPath: data).standardizedFileURL
        for folder in [root, jobs, incoming] {
            do {
                try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            } catch {
                throw InvalidInput("data", "'\(data)': cannot make the folder \(folder.path) (\(fileSystemReason(error)))")
            }
        }
        if let reason = ImageIO.whyUnwritable(root.appendingPathComponent("probe").path) {
            throw InvalidInput("data", "'\(data)': \(reason)")
        }
    }

    public var database: String { root.appendingPathComponent("jobs.sqlite").path }
    var jobs: URL { root.appendingPathComponent("jobs") }
    var incoming: URL { root.appendingPathComponent("incoming") }

    public func folder(_ id: String) -> URL {
        precondition(Job.isValidID(id), "not a job id")
        return jobs.appendingPathComponent(id)
    }
    public func content(_ id: String) -> String { folder(id).appendingPathComponent("content").path }
    public func style(_ id: String, _ number: Int) -> String { folder(id).appendingPathComponent("style-\(number)").path }
    public func model(_ id: String) -> String { folder(id).appendingPathComponent("model").path }
    public func preview(_ id: String) -> String { folder(id).appendingPathComponent("preview.png").path }
    public func result(_ id: String) -> String { folder(id).appendingPathComponent("result.png").path }

    /// A new, empty folder for an upload being checked.
    func newIncoming() throws -> URL {
        let folder = incoming.appendingPathComponent(Job.newID())
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: false)
        return folder
    }

    /// An upload that passed its checks becomes the job's folder, in one rename.
    func adopt(_ incomingFolder: URL, as id: String) throws {
        try FileManager.default.moveItem(at: incomingFolder, to: folder(id))
    }

    func discard(_ folder: URL) {
        try? FileManager.default.removeItem(at: folder)
    }

    /// At start: uploads that were being checked when the server stopped, and job folders the store never heard of
    /// (the server was killed between the rename and the insert), are removed.
    func removeLeftovers(keeping ids: Set<String>) {
        let manager = FileManager.default
        for name in (try? manager.contentsOfDirectory(atPath: incoming.path)) ?? [] {
            try? manager.removeItem(at: incoming.appendingPathComponent(name))
        }
        for name in (try? manager.contentsOfDirectory(atPath: jobs.path)) ?? [] where !ids.contains(name) {
            try? manager.removeItem(at: jobs.appendingPathComponent(name))
        }
    }
}
