import Foundation
import Hummingbird
import Logging
import ServiceLifecycle
import Stylize

/// `stylize serve`: the job store, the workers and the HTTP server, from start to a clean stop.
public enum Server {
    /// Serves until `shouldStop` turns true (the command line's signal flag), then stops in order: the workers save
    /// their jobs' progress and requeue them, open event streams end, and the HTTP server finishes its requests.
    /// `say` gets the one line that tells where the server listens (`... http://127.0.0.1:PORT/`).
    public static func run(_ settings: ServerSettings, shouldStop: @escaping @Sendable () -> Bool,
                           say: @escaping @Sendable (String) -> Void) async throws {
        try settings.validate()
        let folders = try JobFolders(data: settings.data)
        let store = try SQLiteJobStore(path: folders.database)
        let requeued = try store.recoverRunning()
        folders.removeLeftovers(keeping: Set(try store.jobs().map(\.id)))
        let events = JobEvents()
        let runner = JobRunner(store: store, folders: folders, events: events, settings: settings)
        let routes = Routes(settings: settings, store: store, folders: folders,
                            intake: JobIntake(store: store, folders: folders, settings: settings), runner: runner, events: events)
        var logger = Logger(label: "stylize-serve")
        logger.logLevel = .error
        let app = Application(router: routes.router(),
                              configuration: .init(address: .hostname(settings.host, port: settings.port), serverName: "stylize"),
                              onServerRunning: { channel in
                                  let port = channel.localAddress?.port ?? settings.port
                                  let host = settings.host.contains(":") && !settings.host.hasPrefix("[") ? "[\(settings.host)]" : settings.host
                                  let token = settings.token.map { _ in "?token=TOKEN" } ?? ""
                                  say("stylize: serving http://\(host):\(port)/\(token) (data in \(folders.root.path)"
                                      + (requeued.isEmpty ? ")" : "; \(requeued.count) interrupted job(s) back in the queue)"))
                              },
                              logger: logger)
        let group = ServiceGroup(configuration: .init(services: [app], logger: logger))
        runner.start()
        // Two tasks: the server, and a watcher that stops everything in order once `shouldStop` turns true. The server
        // ending first means it could not start (the port is taken, say).
        try await withThrowingTaskGroup(of: Bool.self) { tasks in
            tasks.addTask {
                do { try await group.run() } catch {
                    throw ServeError.cannotListen(host: settings.host, port: settings.port, reason: "\(error)")
                }
                return true
            }
            tasks.addTask {
                while !shouldStop() && !Task.isCancelled { try? await Task.sleep(for: .milliseconds(100)) }
                await runner.stop()
                events.finishAll()
                await group.triggerGracefulShutdown()
                return false
            }
            do {
                if try await tasks.next() == true { tasks.cancelAll() }
                try await tasks.waitForAll()
            } catch {
                tasks.cancelAll()
                await runner.stop()
                throw error
            }
        }
    }

    public enum ServeError: Error, CustomStringConvertible {
        case cannotListen(host: String, port: Int, reason: String)

        public var description: String {
            switch self {
            case .cannotListen(let host, let port, let reason): "cannot serve on \(host):\(port): \(reason)"
            }
        }
    }
}
