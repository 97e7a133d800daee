import ArgumentParser
import Foundation

/// The loop both training commands run: steps with a progress bar and a JSON-lines log, `save` every
/// `checkpointEvery` steps and at the end, and on Ctrl-C a save and the exit code 130 with how to resume.
struct TrainingLoop {
    let steps: Int
    let batch: Int
    let checkpointEvery: Int
    let quiet: Bool
    let log: JSONLinesLog?

    /// What one step reports: the step reached, the log fields, and a few words for the progress bar.
    typealias StepReport = (step: Int, fields: [(String, Any)], summary: String)

    func run(from firstStep: Int, trainStep: () throws -> StepReport, save: () throws -> Void) throws {
        catchInterrupts()
        var bar = ProgressBar(total: steps - firstStep, quiet: quiet)
        let clock = ContinuousClock.now
        var step = firstStep
        while step < steps && !interrupted.load(ordering: .relaxed) {
            let report = try trainStep()
            step = report.step
            let seconds = (ContinuousClock.now - clock).seconds
            let imagesPerSecond = Double((step - firstStep) * batch) / seconds
            log?.write([("step", step)] + report.fields + [("seconds", seconds), ("images_per_second", imagesPerSecond)])
            bar.update(step - firstStep, seconds: seconds,
                       detail: String(format: "step %d %@ %.2f img/s", step, report.summary, imagesPerSecond))
            if step % checkpointEvery == 0 && step < steps { try save() }
        }
        bar.finish()
        try save()
        if interrupted.load(ordering: .relaxed) {
            stderr("stylize: interrupted at step \(step); continue with the same command and --resume")
            throw ExitCode(130)
        }
    }
}

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

    @Option(help: "Append one JSON object per step to this file (a resumed run appends to it).")
    var log: String?

    func validate() throws {
        guard output.hasSuffix(".safetensors") else { throw ValidationError("-o should name a .safetensors file") }
        guard checkpointEvery > 0 else { throw ValidationError("--checkpoint-every must be positive") }
    }

    /// models/x.safetensors -> models/x<suffix>
    func besideOutput(_ suffix: String) -> String {
        String(output.dropLast(".safetensors".count)) + suffix
    }

    var outputURL: URL { URL(fileURLWithPath: output) }
    var checkpointURL: URL { URL(fileURLWithPath: checkpoint ?? besideOutput(".checkpoint.safetensors")) }

    /// Fails before hours of work, not after them.
    func checkWritable() throws {
        let folder = outputURL.deletingLastPathComponent().path
        guard FileManager.default.isWritableFile(atPath: folder) else {
            throw ValidationError("cannot write the model into \(folder)")
        }
    }

    func openLog() throws -> JSONLinesLog? {
        try log.map { resume ? try JSONLinesLog.appending(to: $0) : try JSONLinesLog(path: $0) }
    }

    func loop(steps: Int, batch: Int, quiet: Bool) throws -> TrainingLoop {
        TrainingLoop(steps: steps, batch: batch, checkpointEvery: checkpointEvery, quiet: quiet, log: try openLog())
    }
}
