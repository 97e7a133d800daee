import ArgumentParser
import Foundation
import Stylize

struct UpscaleCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "upscale",
        abstract: "Enlarge images 2, 3 or 4 times with a trained super-resolution network (or bicubic interpolation).",
        discussion: """
            --model is a file written by `stylize train-upscaler` or a bundled upscaler's name (see `stylize models`): \
            x2 and x4 (pixel loss: the most faithful), x2-fast and x4-fast (several times faster, a little less faithful) \
            and x4-perceptual (crisper edges, a little less faithful).

            Without --model, the bundled xN for --scale N. Large images are processed in tiles that overlap by the \
            network's reach, so the result is the same as in one piece.
            """
    )

    enum Method: String, ExpressibleByArgument, CaseIterable { case net, bicubic }

    @OptionGroup var images: ImageBatchOptions

    @Option(help: "The enlargement: 2, 3 or 4 (default: the model's, or 4).")
    var scale: Int?

    @Option(help: "An upscaler model file or a bundled upscaler's name (default: xN for --scale N).")
    var model: String?

    @Option(help: "net: the network; bicubic: plain bicubic interpolation, for comparison.")
    var method = Method.net

    @Flag(help: "Average the network's results over the image's eight mirrors and quarter turns: a little more faithful, eight times the time.")
    var selfEnsemble = false

    @Option(help: "Side of the tiles the network works on, in input pixels (smaller uses less memory).")
    var tile = Upscaler.defaultTile

    @OptionGroup var machine: MachineOptions

    func validate() throws {
        try validating {
            if let scale { try UpscalerNet.checkScale(scale) }
            try Check.range(tile, 16...4096, "tile")
        }
        if method == .bicubic && model != nil { throw ValidationError("--model is for --method net") }
        if method == .bicubic && selfEnsemble { throw ValidationError("--self-ensemble is for --method net") }
    }

    func run() throws {
        try runReportingErrors(flags: ["maxPixels": "max-pixels"]) {
            machine.configure()
            let files = try images.files()
            let upscaler = method == .net ? try loadUpscaler() : nil
            let scale = upscaler?.scale ?? self.scale ?? 4
            for (index, (file, destination)) in files.enumerated() {
                guard !interrupted.load(ordering: .relaxed) else {
                    throw Interrupted(message: "wrote \(index) of \(counted(files.count, "image"))")
                }
                try ImageIO.checkWritable(destination)
                let image = try images.read(file)
                try Limits.checkPixels(width: image.width * scale, height: image.height * scale, maxPixels: images.maxPixels,
                                       setting: "maxPixels", what: "\(file)'s result")
                let clock = ContinuousClock.now
                let result: Image
                if let upscaler {
                    var bar = ProgressBar(total: upscaler.tileCount(image), quiet: machine.quiet)
                    result = try upscaler.upscale(image) { bar.update($0, seconds: (ContinuousClock.now - clock).seconds, detail: "tiles") }
                    bar.finish()
                } else {
                    result = Upscaler.bicubic(image, scale: scale)
                }
                let seconds = (ContinuousClock.now - clock).seconds
                try ImageIO.write(result, to: destination)
                if !machine.quiet {
                    stderr("\(destination) (\(image.width)x\(image.height) -> \(result.width)x\(result.height), \(String(format: "%.2f", seconds)) s)")
                }
            }
        }
    }

    private func loadUpscaler() throws -> Upscaler {
        Upscaler(network: try Upscaler.network(model: model, scale: scale), tile: tile, precision: machine.precision,
                 selfEnsemble: selfEnsemble)
    }
}
