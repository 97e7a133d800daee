import ArgumentParser
import Foundation
import Stylize

struct EvaluateUpscalerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "evaluate-upscaler",
        abstract: "Measure an upscaler against bicubic on photos it was not trained on: PSNR, SSIM, sharpness, hatching.",
        discussion: """
            Each photo is halved (as for training), degraded (Gaussian blur sigma 1, bicubic shrink by the scale), \
            upscaled back by the network and by bicubic, and compared with the halved photo on the Y channel (BT.601), \
            with `scale` pixels cropped from every border, as super-resolution papers report. Also, relative to the \
            halved photo: sharpness (mean absolute gradient of Y; below 1 is blurrier) and periodic power (Y's power \
            at the harmonics of a `scale`-pixel period, where a sub-pixel network's grid shows as a fine hatching; \
            near 1 is clean). Prints one row per photo and the means (sharpness and periodic power as ratios of sums).
            """
    )

    @Option(help: "A folder of photos (.jpg, .png) the model never saw.")
    var photos: String

    @Option(help: "The enlargement: 2, 3 or 4 (default: the model's, or 4).")
    var scale: Int?

    @Option(help: "An upscaler model file or a bundled upscaler's name (default: xN for --scale N).")
    var model: String?

    @Flag(help: "Average the network's results over each photo's eight mirrors and quarter turns (as `upscale --self-ensemble`).")
    var selfEnsemble = false

    @Option(help: "Evaluate at most this many photos (the first, sorted by name).")
    var limit: Int?

    @Option(help: "A folder to write each photo's truth, network and bicubic results into, as PNG.")
    var saveDir: String?

    @OptionGroup var machine: MachineOptions

    func validate() throws {
        if let scale, !UpscalerNet.scales.contains(scale) { throw ValidationError("--scale must be 2, 3 or 4") }
        if let limit, limit <= 0 { throw ValidationError("--limit must be positive") }
    }

    func run() throws {
        try runReportingErrors {
            machine.configure()
            let name = model ?? "x\(scale ?? 4)"
            let network = try Upscaler.network(model: model, scale: scale)
            if let saveDir { try ImageBatchOptions.checkFolder(saveDir) }
            var files = try PhotoCrops.photos(in: photos)
            if let limit { files = Array(files.prefix(limit)) }
            let photos = try files.map { (URL(fileURLWithPath: $0).deletingPathExtension().lastPathComponent, try ImageIO.read($0)) }
            print("photo\tnet PSNR\tbicubic PSNR\tgain dB\tnet SSIM\tbicubic SSIM\tnet sharpness\tbicubic sharpness\tnet periodic\tbicubic periodic")
            let evaluation = try UpscalerEvaluation(upscaler: Upscaler(network: network, precision: machine.precision, selfEnsemble: selfEnsemble), photos: photos) { row, truth, upscaled, bicubic in
                print(Self.line(row.name, row.network, row.bicubic))
                if let saveDir {
                    let base = URL(fileURLWithPath: saveDir).appendingPathComponent(row.name).path
                    let method = URL(fileURLWithPath: name).deletingPathExtension().lastPathComponent + (selfEnsemble ? "-self-ensemble" : "")
                    try ImageIO.write(truth, to: base + "-truth.png")
                    try ImageIO.write(upscaled, to: base + "-\(method).png")
                    try ImageIO.write(bicubic, to: base + "-bicubic.png")
                }
                guard !interrupted.load(ordering: .relaxed) else { throw Interrupted(message: "evaluated \(row.name) and the photos before it") }
            }
            for (name, reason) in evaluation.skipped { stderr("stylize: warning: skipped \(name): \(reason)") }
            print(Self.line("mean of \(evaluation.rows.count)", evaluation.meanNetwork, evaluation.meanBicubic))
        }
    }

    /// Sharpness and periodic power are ratios to the original's (1 = as sharp, as free of a grid pattern).
    static func line(_ name: String, _ network: UpscalerEvaluation.Scores, _ bicubic: UpscalerEvaluation.Scores) -> String {
        // The name by interpolation: `%@` would bridge a Swift String through an NSString.
        name + String(format: "\t%.2f\t%.2f\t%+.2f\t%.4f\t%.4f\t%.3f\t%.3f\t%.2f\t%.2f", network.psnr, bicubic.psnr,
                      network.psnr - bicubic.psnr, network.ssim, bicubic.ssim, network.sharpness, bicubic.sharpness,
                      network.periodic, bicubic.periodic)
    }
}
