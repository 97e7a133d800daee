import ArgumentParser
import Foundation
import Stylize

/// The options both training commands share: where the model goes, checkpoints, resuming and the log.
struct TrainingRunOptions: ParsableArguments {
    @Option(name: .shortAndLong, help: "The model file to write (.safetensors).")
    var output: String

    @Option(help: "Write the model and the checkpoint (and the preview, if any) every N steps.")
    var checkpointEvery = 100

    @Option(help: "The checkpoint file (default: the model's name with .checkpoint.safetensors).")
    var checkpoint: String?

    @Flag(help: "Continue from the checkpoint, with the same settings (--steps may grow, --lr may change).")
    var resume = false

    @Flag(help: "Start a new run even though the checkpoint of an earlier one is there (it is replaced).")
    var force = false

    @Option(help: "Append one JSON object per step to this file (a resumed run appends to it).")
    var log: String?

    func validate() throws {
        guard output.hasSuffix(".safetensors") else { throw ValidationError("-o should name a .safetensors file") }
        guard checkpointEvery > 0 else { throw ValidationError("--checkpoint-every must be positive") }
        guard !(resume && force) else { throw ValidationError("--resume continues a run and --force replaces it: give one") }
    }

    /// models/x.safetensors -> models/x<suffix>
    func besideOutput(_ suffix: String) -> String {
        String(output.dropLast(".safetensors".count)) + suffix
    }

    var outputURL: URL { URL(fileURLWithPath: output) }
    var checkpointURL: URL { URL(fileURLWithPath: checkpoint ?? besideOutput(".checkpoint.safetensors")) }

    /// Checks, before hours of work rather than after them, that the model, checkpoint and log can be written, that
    /// none of them is an input or another of them, and that an earlier run's checkpoint is not replaced without
    /// --force; with --resume, reads the checkpoint to continue from.
    func prepare<Network: TrainableNetwork>(_ network: Network.Type, inputs: [String], otherOutputs: [(flag: String, path: String)] = []) throws -> Checkpoint<Network>? {
        var outputs = [("-o", output), ("--checkpoint", checkpointURL.path)] + otherOutputs
        if let log { outputs.append(("--log", log)) }
        try OutputPaths.checkDistinct(outputs: outputs, inputs: inputs)
        for (flag, path) in outputs {
            if let reason = ImageIO.whyUnwritable(path) { throw ValidationError("\(flag) \(path): \(reason)") }
        }
        if !resume && !force && FileManager.default.fileExists(atPath: checkpointURL.path) {
            throw ValidationError("\(checkpointURL.path) holds an earlier run's checkpoint: continue it with --resume, or start anew with --force")
        }
        return resume ? try Checkpoint(contentsOf: checkpointURL) : nil
    }

    /// `--start-from` (a model file or a bundled model's name) as its file. A resumed run continues from the checkpoint
    /// and only compares the start's name with the one recorded there, so a start file gone since then is no error.
    func startFile(_ nameOrPath: String?, _ kind: BundledModels.Kind) throws -> URL? {
        guard let nameOrPath else { return nil }
        do {
            return try BundledModels.locate(nameOrPath, kind)
        } catch where resume {
            return URL(fileURLWithPath: nameOrPath)
        }
    }

    /// The network a new run starts from (`startFile`'s), or nil: a resumed run continues from its checkpoint.
    func startNetwork<Network: TrainableNetwork>(_ startFile: URL?) throws -> Network? {
        resume ? nil : try startFile.map { try Model<Network>(contentsOf: $0).network }
    }

    /// Refuses to start when the model's folder could not hold a save: the model and a checkpoint (the weights and
    /// Adam's two moments), each written beside the old one before it replaces it.
    func checkFreeSpace(parameters: Int) throws {
        let folder = outputURL.deletingLastPathComponent().path
        guard let free = (try? FileManager.default.attributesOfFileSystem(forPath: folder))?[.systemFreeSize] as? Int else { return }
        let needed = 2 * (4 * parameters + 3 * 4 * parameters) + (1 << 20)
        guard free >= needed else {
            throw ValidationError("\(folder) has \(formatBytes(free)) free; saving the model and checkpoint needs about \(formatBytes(needed))")
        }
    }

    /// Reads every photo before training starts; the unusable ones are reported and left out.
    func checkPhotos(_ photos: PhotoCrops, quiet: Bool) throws {
        if !quiet { stderr("reading \(counted(photos.paths.count, "photo"))...") }
        let skipped = try photos.checkEvery()
        for (_, reason) in skipped.prefix(5) { stderr("stylize: warning: skipped: \(reason)") }
        if skipped.count > 5 { stderr("stylize: warning: skipped \(counted(skipped.count - 5, "more unusable photo"))") }
    }

    func openLog() throws -> JSONLinesLog? {
        try log.map { resume ? try JSONLinesLog.appending(to: $0) : try JSONLinesLog(path: $0) }
    }

    /// Runs `training` to its last step with a progress bar and the log, saving with `save` (the model, the checkpoint
    /// and whatever the command adds) every --checkpoint-every steps, at the end and on Ctrl-C, which then exits with
    /// 130 and how to resume. `what` is trained, for the first line ("on 300 photos").
    func run<Loss>(_ training: Training<Loss>, what: String, quiet: Bool, save: () throws -> Void) throws {
        // A resumed run already at --steps leaves the model as it is (rewriting it would only record other settings).
        guard training.step < training.settings.steps else {
            if !quiet { stderr("the checkpoint is at step \(training.step), --steps is \(training.settings.steps): nothing to train; \(output) is unchanged") }
            return
        }
        if !quiet { stderr("training \(what) from step \(training.step) to \(training.settings.steps), in \(training.precision)") }
        try checkFreeSpace(parameters: training.model.parameterCount)
        let log = try openLog()
        var bar = ProgressBar(total: training.settings.steps - training.step, quiet: quiet)
        let firstStep = training.step
        let stoppedEarly: Bool
        do {
            stoppedEarly = try training.run(checkpointEvery: checkpointEvery, shouldStop: { interrupted.load(ordering: .relaxed) }, report: { report in
                log?.write([("step", report.step)] + report.terms.fields.map { ($0, $1) } + [("precision", training.precision),
                           ("seconds", report.seconds), ("images_per_second", report.imagesPerSecond)])
                bar.update(report.step - firstStep, seconds: report.seconds,
                           detail: "step \(report.step) \(report.terms.summary) \(String(format: "%.2f", report.imagesPerSecond)) img/s")
            }, save: save)
        } catch let diverged as Training<Loss>.Diverged {
            // The network is still the last good step's: keep it, so that the run can go on from there (--resume with
            // a lower --lr).
            bar.finish()
            try save()
            throw ValidationError("\(diverged); the model and checkpoint of the last good step (\(training.step)) are in \(output) and \(checkpointURL.path)")
        }
        bar.finish()
        if stoppedEarly {
            throw Interrupted(message: "saved the model and checkpoint at step \(training.step); continue with the same command and --resume")
        }
        if !quiet { stderr("wrote \(output)") }
    }

    /// Writes the model and its checkpoint.
    func save<Loss>(_ training: Training<Loss>) throws {
        try training.checkpoint.write(to: checkpointURL)
        try training.model.write(to: outputURL)
    }
}
