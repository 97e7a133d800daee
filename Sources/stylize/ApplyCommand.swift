import ArgumentParser
import Foundation
import Stylize

struct ApplyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "apply",
        abstract: "Stylize photos with a trained model, in one pass of its network.",
        discussion: """
            MODEL is a file written by `stylize train` or the name of a bundled model (see `stylize models`), e.g.
            `stylize apply starry-night photo.jpg -o out.png`. Images keep their size unless --size is given; a folder
            stands for the images in it.
            """
    )

    @Argument(help: "A model file or a bundled model's name.")
    var model: String

    @Argument(help: "Images (PNG or JPEG) or folders of them.")
    var inputs: [String]

    @Option(name: .shortAndLong, help: "The output image (.png, .jpg), for a single input.")
    var output: String?

    @Option(help: "A folder for the outputs, named after the inputs, as PNG.")
    var outputDir: String?

    @Option(help: "Resize each image to this long side first (default: keep its size).")
    var size: Int?

    @Option(help: "Pixels of mirrored photo added on every side and cropped off again, which keeps the frame the network draws along its borders out of the picture.")
    var margin = FeedForwardStylizer.defaultMargin

    @Option(help: "Refuse images with more pixels than this.")
    var maxPixels = 50_000_000

    @OptionGroup var machine: MachineOptions

    func validate() throws {
        guard (output == nil) != (outputDir == nil) else { throw ValidationError("give either -o OUT or --output-dir DIR") }
        if let size, size <= 0 { throw ValidationError("--size must be positive") }
        guard margin >= 0 else { throw ValidationError("--margin cannot be negative") }
    }

    func run() throws {
        try runReportingErrors {
            machine.configure()
            let files = try inputs.flatMap(Self.images)
            try Self.checkOutputs(output: output, outputDir: outputDir, inputCount: files.count)
            let stylizer = FeedForwardStylizer(network: try StyleModel(contentsOf: try BundledModels.locate(model)).network, margin: margin)
            for file in files {
                let destination = Self.destination(for: file, output: output, outputDir: outputDir)
                try ImageIO.checkWritable(destination)
                var image = try ImageIO.read(file, maxPixels: maxPixels)
                if let size { image = image.resized(longSide: size) }
                let clock = ContinuousClock.now
                let result = try stylizer.stylize(image)
                let seconds = (ContinuousClock.now - clock).seconds
                try ImageIO.write(result, to: destination)
                if !machine.quiet { stderr("\(destination) (\(image.width)x\(image.height), \(String(format: "%.2f", seconds)) s)") }
            }
        }
    }

    /// -o takes one input; --output-dir must exist.
    static func checkOutputs(output: String?, outputDir: String?, inputCount: Int) throws {
        if output != nil && inputCount != 1 {
            throw ValidationError("-o takes one input image, and \(inputCount) were given; use --output-dir")
        }
        if let outputDir {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: outputDir, isDirectory: &isDirectory), isDirectory.boolValue else {
                throw ValidationError("the output folder \(outputDir) does not exist")
            }
        }
    }

    /// -o as given, or the input's name as PNG in --output-dir.
    static func destination(for file: String, output: String?, outputDir: String?) -> String {
        output ?? URL(fileURLWithPath: outputDir!).appendingPathComponent(
            URL(fileURLWithPath: file).deletingPathExtension().lastPathComponent + ".png").path
    }

    /// A file as itself; a folder as its images, sorted.
    static func images(_ path: String) throws -> [String] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw ValidationError("no such file or folder: \(path)")
        }
        guard isDirectory.boolValue else { return [path] }
        let names = try FileManager.default.contentsOfDirectory(atPath: path).sorted()
            .filter { PhotoCrops.extensions.contains(URL(fileURLWithPath: $0).pathExtension.lowercased()) }
        guard !names.isEmpty else { throw ValidationError("no .jpg or .png images in \(path)") }
        return names.map { URL(fileURLWithPath: path).appendingPathComponent($0).path }
    }
}
