import Foundation
import Stylize
import Synchronization

/// Runs queued jobs, `workers` at a time, each on its own thread (the math blocks; it must not hold up the server's
/// event loops). A worker takes the oldest queued job from the store, runs it with the library, publishes its
/// progress, and stores the outcome.
///
/// A transfer writes its image every `previewSeconds` (`preview.png`) and then stores how many iterations that image
/// has had: a job requeued after a crash or a stop resumes from that image with the iterations left (L-BFGS starts
/// a new history there). Cancelled, it keeps its latest image as its result. Stopping (`stop`), running jobs save
/// their image and go back to the queue.
public final class JobRunner: Sendable {
    let store: any JobStore
    let folders: JobFolders
    let events: JobEvents
    let settings: ServerSettings

    private struct State {
        var stopping = false
        var running: [String: (done: Int, total: Int)] = [:]
        var cancelled: Set<String> = []
        var workersLeft = 0
    }
    private let state = Mutex(State())
    private let wake = DispatchSemaphore(value: 0)

    public init(store: any JobStore, folders: JobFolders, events: JobEvents, settings: ServerSettings) {
        self.store = store
        self.folders = folders
        self.events = events
        self.settings = settings
    }

    public func start() {
        state.withLock { $0.workersLeft = settings.workers }
        for index in 0..<settings.workers {
            let thread = Thread { [self] in work() }
            thread.name = "stylize-worker-\(index + 1)"
            thread.stackSize = 16 << 20
            thread.start()
        }
    }

    /// A job was queued: a waiting worker takes it now rather than at its next look.
    public func wakeUp() { wake.signal() }

    /// The progress of a running job, fresher than the store's (which moves with each saved image).
    public func liveProgress(_ id: String) -> (done: Int, total: Int)? {
        state.withLock { $0.running[id] }
    }

    /// Asks a running job to stop; it keeps its latest image. (Queued jobs are cancelled by the store alone.)
    public func cancel(_ id: String) {
        state.withLock { _ = $0.cancelled.insert(id) }
    }

    /// Stops taking jobs, has the running ones save their image and go back to the queue, and returns when every
    /// worker has finished.
    public func stop() async {
        state.withLock { $0.stopping = true }
        for _ in 0..<settings.workers { wake.signal() }
        while state.withLock({ $0.workersLeft > 0 }) {
            try? await Task.sleep(for: .milliseconds(20))
        }
    }

    private enum Outcome {
        case done
        case cancelled
        /// The server is stopping: back to the queue.
        case interrupted
    }

    private func work() {
        var vgg: VGG19? = nil  // loaded by the first transfer, kept for the next
        defer { state.withLock { $0.workersLeft -= 1 } }
        while !state.withLock({ $0.stopping }) {
            let job: Job
            do {
                guard let next = try store.claimNext() else {
                    _ = wake.wait(timeout: .now() + 0.5)
                    continue
                }
                job = next
            } catch {
                FileHandle.standardError.write(Data("stylize serve: the job store failed: \(error)\n".utf8))
                Thread.sleep(forTimeInterval: 1)
                continue
            }
            state.withLock { $0.running[job.id] = (job.done, job.total) }
            events.publish(job.id, "status", ["status": JobStatus.running.rawValue])
            var status = JobStatus.done, message: String? = nil
            do {
                switch try run(job, vgg: &vgg) {
                case .done: status = .done
                case .cancelled: status = .cancelled
                case .interrupted:
                    try store.requeue(job.id)
                    state.withLock { $0.running[job.id] = nil }
                    events.finish(job.id)
                    continue
                }
            } catch {
                status = .failed
                message = Refusal(error).message
            }
            // A cancel that arrived as the job finished still counts: the user asked for it.
            if status == .done && state.withLock({ $0.cancelled.contains(job.id) }) { status = .cancelled }
            try? store.finish(job.id, status: status, error: message)
            state.withLock {
                $0.running[job.id] = nil
                $0.cancelled.remove(job.id)
            }
            events.publish(job.id, "end", ["status": status.rawValue, "error": message ?? ""])
        }
    }

    private func shouldStop(_ id: String) -> Outcome? {
        state.withLock { state in
            if state.cancelled.contains(id) { return .cancelled }
            return state.stopping ? .interrupted : nil
        }
    }

    private func run(_ job: Job, vgg: inout VGG19?) throws -> Outcome {
        // A cancel asked for before a killed server came back up.
        if job.cancelRequested { return .cancelled }
        // Killed after writing the result and its count, before recording the end: it is done.
        if job.done >= job.total && FileManager.default.fileExists(atPath: folders.result(job.id)) { return .done }
        let photo = try ImageIO.read(folders.content(job.id), maxPixels: settings.maxPixels)
        switch job.kind {
        case .transfer:
            return try transfer(job, photo: photo, vgg: &vgg)
        case .apply:
            guard let model = try JobForm.model(job.fields, uploaded: folders.model(job.id), .style) else {
                throw InvalidInput("the job's model file is missing")
            }
            let stylizer = try FeedForwardStylizer(network: try StyleModel(contentsOf: model).network,
                                                   margin: try JobForm.margin(job.fields), maxPixels: settings.maxPixels,
                                                   precision: settings.precision)
            let size = try JobForm.applySize(job.fields)
            try finish(job, with: try stylizer.stylize(size.map { photo.resized(longSide: $0) } ?? photo))
        case .upscale:
            let model = try JobForm.model(job.fields, uploaded: folders.model(job.id), .upscaler)
            let upscaler = Upscaler(network: try Upscaler.network(model: model?.path, scale: try JobForm.scale(job.fields)),
                                    precision: settings.precision, selfEnsemble: try JobForm.selfEnsemble(job.fields))
            try finish(job, with: try upscaler.upscale(photo) { done in
                state.withLock { $0.running[job.id] = (done, job.total) }
                events.publish(job.id, "progress", ["done": done, "total": job.total])
            })
        }
        return .done
    }

    private func finish(_ job: Job, with image: Image) throws {
        try ImageIO.write(image, to: folders.result(job.id))
        try store.setProgress(job.id, done: job.total)
    }

    private func transfer(_ job: Job, photo: Image, vgg: inout VGG19?) throws -> Outcome {
        var settings = try JobForm.transferSettings(job.fields, maxPixels: self.settings.maxPixels, precision: self.settings.precision)
        let weights = try TransferSettings.blendWeights(job.fields["style-blend"], count: job.styles)
        let styles = try (1...job.styles).map {
            StyleImage(try ImageIO.read(folders.style(job.id, $0), maxPixels: self.settings.maxPixels), weight: weights[$0 - 1])
        }
        // Resume from the last saved image, if the job had one.
        var offset = 0
        if job.done > 0 && job.done < job.total, let saved = try? ImageIO.read(folders.preview(job.id)) {
            offset = job.done
            settings.start = .image(saved.tensor)
            settings.iterations = job.total - job.done
        }
        settings = try MemoryEstimate.fit(settings, content: (photo.width, photo.height),
                                          styles: styles.map { ($0.image.width, $0.image.height) }).settings
        if vgg == nil {
            vgg = try VGG19(parameters: try VGG19Weights.load(from: try VGG19Weights.ensureInstalled()))
        }
        let transfer = try CoarseToFine(vgg: vgg!, content: photo, styles: styles, settings: settings)
        var outcome = Outcome.done, done = offset, lastSave = ContinuousClock.now
        let result = try transfer.run { _, progress in
            done = offset + progress.iteration
            let t = progress.terms
            if progress.iteration > 0 || offset == 0 {
                state.withLock { $0.running[job.id] = (done, job.total) }
                events.publish(job.id, "progress", ["done": done, "total": job.total, "content": Double(t.content),
                                                    "style": Double(t.style), "tv": Double(t.tv), "loss": Double(t.total),
                                                    "seconds": progress.seconds])
            }
            if progress.iteration > 0 && done < job.total && ContinuousClock.now - lastSave >= .seconds(self.settings.previewSeconds) {
                savePreview(job, Image(progress.image()), done: done)
                lastSave = ContinuousClock.now
            }
            if let stop = shouldStop(job.id) {
                outcome = stop
                return false
            }
            return true
        }
        switch outcome {
        case .done, .cancelled:
            // A cancelled transfer keeps what it had painted so far as its result.
            try ImageIO.write(Image(result), to: folders.result(job.id))
            try store.setProgress(job.id, done: done)
        case .interrupted:
            savePreview(job, Image(result), done: done)
        }
        return outcome
    }

    /// The image first, then the count it stands for: a crash between the two resumes from an image that is a little
    /// ahead of its count, never behind it.
    private func savePreview(_ job: Job, _ image: Image, done: Int) {
        do {
            try ImageIO.write(image, to: folders.preview(job.id))
            try store.setProgress(job.id, done: done)
            events.publish(job.id, "preview", ["done": done])
        } catch {
            FileHandle.standardError.write(Data("stylize serve: job \(job.id): cannot save its image: \(error)\n".utf8))
        }
    }
}
