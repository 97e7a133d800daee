import Foundation
import Hummingbird
import NIOCore
import Stylize

/// The HTTP API (docs/api/openapi.yaml) and the page. Handlers translate between HTTP and the job store, the intake
/// and the runner; they decide nothing about settings themselves.
struct Routes: Sendable {
    let settings: ServerSettings
    let store: any JobStore
    let folders: JobFolders
    let intake: JobIntake
    let runner: JobRunner
    let events: JobEvents

    func router() -> Router<BasicRequestContext> {
        let router = Router()
        router.add(middleware: JSONErrors())
        router.add(middleware: SecurityHeaders())
        router.add(middleware: TokenCheck(token: settings.token))

        router.get("/") { _, _ in Responses.bytes(PackageResources.index_html, type: "text/html; charset=utf-8") }
        router.get("/app.js") { _, _ in Responses.bytes(PackageResources.app_js, type: "text/javascript; charset=utf-8") }
        router.get("/style.css") { _, _ in Responses.bytes(PackageResources.style_css, type: "text/css; charset=utf-8") }

        let api = router.group("api")
        api.get("health") { _, _ in Responses.json(["status": "ok"]) }
        api.get("defaults") { _, _ in Responses.json(defaults()) }
        api.get("models") { _, _ in Responses.json(models()) }
        api.get("examples") { _, _ in
            Responses.json(Examples.all().map { ["name": $0.name, "url": "/api/examples/\($0.name)"] })
        }
        api.get("examples/:name") { _, context in
            let name = try context.parameters.require("name")
            guard let path = Examples.path(of: name) else { throw HTTPError(.notFound, message: "no example named '\(name)'") }
            return try Responses.file(path, type: path.lowercased().hasSuffix(".png") ? "image/png" : "image/jpeg", missing: "no such example")
        }
        api.post("jobs") { request, _ in try await submit(request) }
        api.get("jobs") { _, _ in Responses.json(try views(try store.jobs())) }
        api.get("jobs/:id") { _, context in Responses.json(try views([try job(context)])[0]) }
        api.delete("jobs/:id") { _, context in
            let id = try job(context).id
            guard let job = try store.cancel(id) else { throw HTTPError(.notFound, message: "no job \(id)") }
            if job.status == .running { runner.cancel(id) }
            if job.status == .cancelled { events.publish(id, "end", ["status": "cancelled", "error": ""]) }
            return Responses.json(try views([job])[0], status: .accepted)
        }
        api.get("jobs/:id/events") { _, context in try eventStream(try job(context)) }
        api.get("jobs/:id/preview") { _, context in
            try Responses.file(folders.preview(try job(context).id), type: "image/png", missing: "no preview yet")
        }
        api.get("jobs/:id/result") { _, context in
            try Responses.file(folders.result(try job(context).id), type: "image/png", missing: "no result yet")
        }
        return router
    }

    /// The job an `:id` names; anything that is not an id of a stored job is 404, whatever it looks like.
    private func job(_ context: BasicRequestContext) throws -> Job {
        let id = context.parameters.get("id") ?? ""
        guard Job.isValidID(id), let job = try store.job(id) else { throw HTTPError(.notFound, message: "no job '\(id)'") }
        return job
    }

    /// 429 and 413 before the body is read; the body read to at most the limit; the job checked and queued.
    private func submit(_ request: Request) async throws -> Response {
        try intake.checkQueueRoom()
        if let length = request.headers[.contentLength].flatMap(Int.init), length > settings.maxUploadBytes {
            throw HTTPError(.contentTooLarge, message: "the upload is \(length) bytes, over the limit of \(settings.maxUploadMb) MB (--max-upload-mb)")
        }
        guard let boundary = Multipart.boundary(of: request.headers[.contentType]) else {
            throw Refusal(.badRequest, "send the job as multipart/form-data")
        }
        let body: ByteBuffer
        do {
            body = try await request.body.collect(upTo: settings.maxUploadBytes)
        } catch is NIOTooManyBytesError {
            throw HTTPError(.contentTooLarge, message: "the upload is over the limit of \(settings.maxUploadMb) MB (--max-upload-mb)")
        }
        let upload: JobUpload
        do { upload = try Multipart.parse(body, boundary: boundary) } catch let refusal as Refusal { throw refusal } catch {
            throw Refusal(.badRequest, "the multipart body cannot be read: \(error)")
        }
        let job = try intake.accept(upload)
        runner.wakeUp()
        return Responses.json(["id": job.id, "status": job.status.rawValue], status: .accepted)
    }

    /// Jobs as the API shows them: progress (live for running jobs), queue position, what files there are.
    private func views(_ jobs: [Job]) throws -> [[String: Any]] {
        // Positions from one listing rather than a query per job (a single job asks the store for its own).
        var positions: [String: Int] = [:]
        if jobs.count == 1, let id = jobs.first?.id {
            positions[id] = try store.position(of: id)
        } else {
            let queued = jobs.filter { $0.status == .queued }.reversed().map(\.id)
            positions = Dictionary(uniqueKeysWithValues: queued.enumerated().map { ($1, $0 + 1) })
        }
        return jobs.map { job in
            let done = runner.liveProgress(job.id)?.done ?? job.done
            var fields: [String: Any] = job.fields
            if job.kind == .transfer { fields["styles"] = job.styles }
            return ["id": job.id, "kind": job.kind.rawValue, "status": job.status.rawValue,
                    "progress": ["done": done, "total": job.total], "error": job.error ?? NSNull(),
                    "position": positions[job.id] ?? NSNull(), "created": job.created.formatted(.iso8601), "settings": fields,
                    "preview": FileManager.default.fileExists(atPath: folders.preview(job.id)),
                    "result": FileManager.default.fileExists(atPath: folders.result(job.id))]
        }
    }

    /// Server-sent events: the job as it is now (`state`), then its `status`, `progress` and `preview` events as they
    /// happen, and `end`.
    private func eventStream(_ job: Job) throws -> Response {
        let stream = events.subscribe(job.id)  // before the state is read, so no event falls between the two
        let now = try store.job(job.id) ?? job
        let state = String(decoding: try JSONSerialization.data(withJSONObject: try views([now])[0], options: [.sortedKeys]), as: UTF8.self)
        return Response(status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-store"],
                        body: ResponseBody { writer in
            try await writer.write(ByteBuffer(string: "event: state\ndata: \(state)\n\n"))
            if now.status.isFinal {
                let end = JobEvents.json(["status": now.status.rawValue, "error": now.error ?? ""])
                try await writer.write(ByteBuffer(string: "event: end\ndata: \(end)\n\n"))
            } else {
                for await event in stream {
                    try await writer.write(ByteBuffer(string: "event: \(event.name)\ndata: \(event.data)\n\n"))
                }
            }
            try await writer.finish(nil)
        })
    }

    /// The settings' defaults, from the library, for the page to show; and what each kind of job takes.
    private func defaults() -> [String: Any] {
        let transfer = TransferSettings()
        let objective = transfer.objective
        return [
            "transfer": ["size": transfer.size, "iterations": transfer.iterations, "content-weight": objective.contentWeight,
                         "style-weight": objective.styleWeight, "tv-weight": objective.tvWeight, "style-scale": transfer.styleScale,
                         "init": "content", "init-blur": TransferSettings.Start.defaultBlur, "optimizer": transfer.optimizer.rawValue,
                         "seed": transfer.seed, "content-layers": WeightedLayer.listText(objective.contentLayers),
                         "style-layers": WeightedLayer.listText(objective.styleLayers), "pooling": objective.pooling.rawValue],
            "apply": ["margin": FeedForwardStylizer.defaultMargin],
            "fields": Dictionary(uniqueKeysWithValues: JobForm.fields.map { ($0.key.rawValue, $0.value) }),
            "maxUploadMb": settings.maxUploadMb, "maxPixels": settings.maxPixels,
        ]
    }

    /// The bundled and installed models, as `stylize models` lists them.
    private func models() -> [String: Any] {
        let styles = BundledModels.all().map { model -> [String: Any] in
            guard let file = try? StyleModel(contentsOf: model.url) else { return ["name": model.name, "readable": false] }
            return ["name": model.name, "style": file.settings.style, "width": file.network.width, "steps": file.steps]
        }
        let upscalers = BundledModels.all(.upscaler).map { model -> [String: Any] in
            guard let file = try? UpscalerModel(contentsOf: model.url) else { return ["name": model.name, "readable": false] }
            return ["name": model.name, "scale": file.network.scale, "loss": file.settings.loss.rawValue]
        }
        return ["style": styles, "upscalers": upscalers]
    }
}
