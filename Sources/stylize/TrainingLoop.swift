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
