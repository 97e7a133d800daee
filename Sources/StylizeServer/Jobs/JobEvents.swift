import Foundation
import Synchronization

/// What a running job tells whoever watches it (the page, through server-sent events): each iteration's progress and
/// losses, a new preview, and the end. Workers publish from their threads; each subscriber has its own stream,
/// which keeps only the newest events if it reads too slowly.
public final class JobEvents: Sendable {
    public struct Event: Sendable {
        /// `progress`, `preview`, `status` or `end`.
        public let name: String
        /// A JSON object.
        public let data: String
    }

    private let subscribers = Mutex<[String: [UInt64: AsyncStream<Event>.Continuation]]>([:])
    private let counter = Atomic<UInt64>(0)

    public init() {}

    /// A stream of the job's events from now on, ending with its `end` event (or when the server stops).
    public func subscribe(_ id: String) -> AsyncStream<Event> {
        let key = counter.add(1, ordering: .relaxed).newValue
        let (stream, continuation) = AsyncStream<Event>.makeStream(bufferingPolicy: .bufferingNewest(256))
        continuation.onTermination = { [weak self] _ in
            _ = self?.subscribers.withLock { $0[id]?.removeValue(forKey: key) }
        }
        subscribers.withLock { $0[id, default: [:]][key] = continuation }
        return stream
    }

    public func publish(_ id: String, _ name: String, _ fields: [String: any Sendable]) {
        let event = Event(name: name, data: Self.json(fields))
        for continuation in subscribers.withLock({ Array(($0[id] ?? [:]).values) }) { continuation.yield(event) }
        if name == "end" { finish(id) }
    }

    /// Ends the job's streams (after its last event).
    public func finish(_ id: String) {
        for continuation in subscribers.withLock({ $0.removeValue(forKey: id).map { Array($0.values) } ?? [] }) {
            continuation.finish()
        }
    }

    /// Ends every stream: the server is stopping, and open event streams would hold it up.
    public func finishAll() {
        for continuation in subscribers.withLock({ all in defer { all = [:] }; return all.values.flatMap(\.values) }) {
            continuation.finish()
        }
    }

    public var subscriberCount: Int { subscribers.withLock { $0.values.reduce(0) { $0 + $1.count } } }

    static func json(_ fields: [String: any Sendable]) -> String {
        let object = fields.mapValues { value -> Any in
            if let number = value as? Double, !number.isFinite { return NSNull() }
            if let number = value as? Float, !number.isFinite { return NSNull() }
            return value
        }
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data("{}".utf8)
        return String(decoding: data, as: UTF8.self)
    }
}
