import Foundation

/// Where jobs and their state live: one small protocol, so that a store shared by several machines (PostgreSQL,
/// with `stylize worker` processes on each) is another implementation of it rather than a rewrite. Every method
/// is one transaction; `claimNext` must hand each queued job to exactly one caller.
public protocol JobStore: Sendable {
    func add(_ job: Job) throws
    func job(_ id: String) throws -> Job?
    /// Newest first.
    func jobs() throws -> [Job]
    /// The oldest queued job, now marked running; nil when none is queued.
    func claimNext() throws -> Job?
    func setProgress(_ id: String, done: Int) throws
    /// Ends a job: done, failed (with the error) or cancelled.
    func finish(_ id: String, status: JobStatus, error: String?) throws
    /// A running job back to the queue, keeping its progress (the server is stopping).
    func requeue(_ id: String) throws
    /// At start: what a killed server left running goes back to the queue, or is cancelled if that had been asked.
    /// Returns the ids requeued.
    func recoverRunning() throws -> [String]
    /// Queued jobs are cancelled at once; a running one is flagged (`cancelRequested`) for its worker.
    /// Returns the job as it is now, or nil for an unknown id.
    func cancel(_ id: String) throws -> Job?
    func queuedCount() throws -> Int
    /// 1 for the next job to run; nil unless queued.
    func position(of id: String) throws -> Int?
}
