import Foundation
import GRDB

/// The job store in one SQLite file (GRDB). Write-ahead logging, so that reading a job's status never waits for a
/// worker's write (and its sync to disk); SQLite's full synchronisation, so that a job that was accepted (202) is on
/// disk whatever happens to the process after.
public final class SQLiteJobStore: JobStore {
    private let database: DatabasePool

    public init(path: String) throws {
        var configuration = Configuration()
        configuration.prepareDatabase { db in try db.execute(sql: "PRAGMA synchronous = FULL") }
        database = try DatabasePool(path: path, configuration: configuration)
        var migrator = DatabaseMigrator()
        migrator.registerMigration("jobs") { db in
            try db.create(table: "job") { t in
                // `sequence` orders the queue (rowid order is insertion order).
                t.autoIncrementedPrimaryKey("sequence")
                t.column("id", .text).notNull().unique()
                t.column("kind", .text).notNull()
                t.column("status", .text).notNull().indexed()
                t.column("fields", .text).notNull()
                t.column("styles", .integer).notNull()
                t.column("done", .integer).notNull()
                t.column("total", .integer).notNull()
                t.column("error", .text)
                t.column("cancelRequested", .boolean).notNull()
                t.column("created", .double).notNull()
            }
        }
        try migrator.migrate(database)
    }

    public func add(_ job: Job) throws {
        let fields = String(decoding: try JSONEncoder().encode(job.fields), as: UTF8.self)
        try database.write { db in
            try db.execute(sql: """
                INSERT INTO job (id, kind, status, fields, styles, done, total, error, cancelRequested, created)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """, arguments: [job.id, job.kind.rawValue, job.status.rawValue, fields, job.styles, job.done, job.total,
                                 job.error, job.cancelRequested, job.created.timeIntervalSince1970])
        }
    }

    public func job(_ id: String) throws -> Job? {
        try database.read { db in try Row.fetchOne(db, sql: "SELECT * FROM job WHERE id = ?", arguments: [id]).map(Self.job) }
    }

    public func jobs() throws -> [Job] {
        try database.read { db in try Row.fetchAll(db, sql: "SELECT * FROM job ORDER BY sequence DESC").map(Self.job) }
    }

    public func claimNext() throws -> Job? {
        try database.write { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT * FROM job WHERE status = 'queued' ORDER BY sequence LIMIT 1") else {
                return nil
            }
            var job = Self.job(row)
            try db.execute(sql: "UPDATE job SET status = 'running' WHERE id = ?", arguments: [job.id])
            job.status = .running
            return job
        }
    }

    public func setProgress(_ id: String, done: Int) throws {
        try database.write { db in try db.execute(sql: "UPDATE job SET done = ? WHERE id = ?", arguments: [done, id]) }
    }

    public func finish(_ id: String, status: JobStatus, error: String?) throws {
        precondition(status.isFinal, "finish takes done, failed or cancelled")
        try database.write { db in
            try db.execute(sql: "UPDATE job SET status = ?, error = ? WHERE id = ?", arguments: [status.rawValue, error, id])
        }
    }

    public func requeue(_ id: String) throws {
        try database.write { db in try db.execute(sql: "UPDATE job SET status = 'queued' WHERE id = ?", arguments: [id]) }
    }

    public func recoverRunning() throws -> [String] {
        try database.write { db in
            try db.execute(sql: "UPDATE job SET status = 'cancelled' WHERE status = 'running' AND cancelRequested")
            let ids = try String.fetchAll(db, sql: "SELECT id FROM job WHERE status = 'running'")
            try db.execute(sql: "UPDATE job SET status = 'queued' WHERE status = 'running'")
            return ids
        }
    }

    public func cancel(_ id: String) throws -> Job? {
        try database.write { db in
            try db.execute(sql: "UPDATE job SET status = 'cancelled' WHERE id = ? AND status = 'queued'", arguments: [id])
            try db.execute(sql: "UPDATE job SET cancelRequested = 1 WHERE id = ? AND status = 'running'", arguments: [id])
            return try Row.fetchOne(db, sql: "SELECT * FROM job WHERE id = ?", arguments: [id]).map(Self.job)
        }
    }

    public func queuedCount() throws -> Int {
        try database.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM job WHERE status = 'queued'") ?? 0 }
    }

    public func position(of id: String) throws -> Int? {
        try database.read { db in
            guard let sequence = try Int64.fetchOne(db, sql: "SELECT sequence FROM job WHERE id = ? AND status = 'queued'", arguments: [id]) else {
                return nil
            }
            return try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM job WHERE status = 'queued' AND sequence <= ?", arguments: [sequence])
        }
    }

    private static func job(_ row: Row) -> Job {
        var job = Job(id: row["id"], kind: JobKind(rawValue: row["kind"]) ?? .transfer,
                      fields: (try? JSONDecoder().decode([String: String].self, from: Data((row["fields"] as String).utf8))) ?? [:],
                      styles: row["styles"], total: row["total"], created: Date(timeIntervalSince1970: row["created"]))
        job.status = JobStatus(rawValue: row["status"]) ?? .failed
        job.done = row["done"]
        job.error = row["error"]
        job.cancelRequested = row["cancelRequested"]
        return job
    }
}
