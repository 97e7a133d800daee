import ArgumentParser
import Foundation
import Stylize
import StylizeServer

struct ServeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "A web page and HTTP API for transfer, apply and upscale jobs, with live previews and a queue.",
        discussion: """
            Open the address it prints in a browser: drop a photo, pick a style, watch the painting form. Jobs wait in a queue (one runs at a time by default) kept in --data, with their uploads and results: a server stopped, or killed, and started again on the same --data has every job it had, and resumes the one that was running from its last saved image. The API is described in docs/api/openapi.yaml.

            It listens on the loopback address only, unless --host says otherwise; any other host needs --token, which every request must then carry (the page: open it as /?token=TOKEN).
            """
    )

    private static let defaults = ServerSettings()

    @Option(help: "The address to listen on (127.0.0.1: this machine only).")
    var host = defaults.host

    @Option(help: "The port (0: any free one; the address is printed).")
    var port = defaults.port

    @Option(help: "The folder for the job store, the uploads and the results (made if missing).")
    var data = defaults.data

    @Option(help: "Largest upload in MB; bigger ones get 413.")
    var maxUploadMb = defaults.maxUploadMb

    @Option(help: "A secret every request must carry (required with a --host other than loopback).")
    var token: String?

    @Option(help: "Jobs run at once.")
    var workers = defaults.workers

    @Option(help: "Jobs that may wait in the queue; more get 429.")
    var maxQueued = defaults.maxQueued

    @Option(help: "Refuse images with more pixels than this (422).")
    var maxPixels = defaults.maxPixels

    @OptionGroup var machine: MachineOptions

    func settings() -> ServerSettings {
        var settings = ServerSettings()
        settings.host = host
        settings.port = port
        settings.data = data
        settings.maxUploadMb = maxUploadMb
        settings.token = token
        settings.workers = workers
        settings.maxQueued = maxQueued
        settings.maxPixels = maxPixels
        settings.precision = machine.precision
        return settings
    }

    func validate() throws {
        try validating(flags: ["maxUploadMb": "max-upload-mb"]) { try settings().validate() }
    }

    func run() throws {
        try runReportingErrors(flags: ["maxPixels": "max-pixels", "maxUploadMb": "max-upload-mb"]) {
            machine.configure()
            let settings = settings()
            let quiet = machine.quiet
            // The server is async; the command line's main is not. Run it to the end on its own task and wait.
            let finished = DispatchSemaphore(value: 0)
            nonisolated(unsafe) var failure: Error?
            Task {
                do {
                    try await Server.run(settings, shouldStop: { interrupted.load(ordering: .relaxed) },
                                         say: { line in FileHandle.standardOutput.write(Data((line + "\n").utf8)) })
                } catch {
                    failure = error
                }
                finished.signal()
            }
            finished.wait()
            if let failure { throw failure }
            if !quiet { stderr("stylize: stopped; running jobs saved and back in the queue") }
        }
    }
}
