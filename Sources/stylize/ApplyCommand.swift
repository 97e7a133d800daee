import ArgumentParser
import Foundation
import Stylize

struct ApplyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "apply",
        abstract: "Stylize photos with a trained model, in one pass of its network.",
        discussion: """
            MODEL is a file written by `stylize train` or the name of a bundled model (see `stylize models`), e.g. \
            `stylize apply starry-night photo.jpg -o out.png`. Images keep their size unless --size is given; a folder \
            stands for the images in it.
            """
    )

    @Argument(help: "A model file or a bundled model's name.")
    var model: String

    @OptionGroup var images: ImageBatchOptions

    @Option(help: "Resize each image to this long side first (default: keep its size).")
    var size: Int?

    @Option(help: "Pixels of mirrored photo added on every side and cropped off again, which keeps the frame the network draws along its borders out of the picture.")
    var margin = FeedForwardStylizer.defaultMargin

    @OptionGroup var machine: MachineOptions

    func validate() throws {
        try validating { if let size { try Check.range(size, 1...Limits.largestSide, "size") } }
    }

    func run() throws {
        try runReportingErrors(flags: ["maxPixels": "max-pixels"]) {
            machine.configure()
            let files = try images.files()
            let stylizer = try FeedForwardStylizer(network: try StyleModel(contentsOf: try BundledModels.locate(model)).network,
                                                   margin: margin, maxPixels: images.maxPixels, precision: machine.precision)
            for (index, (file, destination)) in files.enumerated() {
                guard !interrupted.load(ordering: .relaxed) else {
                    throw Interrupted(message: "wrote \(index) of \(counted(files.count, "image"))")
                }
                try ImageIO.checkWritable(destination)
                var image = try images.read(file)
                if let size {
                    let resized = MemoryEstimate.fitted((image.width, image.height), longSide: size)
                    try Limits.checkPixels(width: resized.width, height: resized.height, maxPixels: images.maxPixels, setting: "maxPixels",
                                           what: "\(file) resized")
                    image = image.resized(longSide: size)
                }
                let clock = ContinuousClock.now
                let result = try stylizer.stylize(image)
                let seconds = (ContinuousClock.now - clock).seconds
                try ImageIO.write(result, to: destination)
                if !machine.quiet { stderr("\(destination) (\(image.width)x\(image.height), \(String(format: "%.2f", seconds)) s)") }
            }
        }
    }
}
