import ArgumentParser
import Foundation
import Stylize

/// Images in, one result per image out: what `apply` and `upscale` share.
struct ImageBatchOptions: ParsableArguments {
    @Argument(help: "Images (PNG or JPEG) or folders of them.")
    var inputs: [String]

    @Option(name: .shortAndLong, help: "The output image (.png, .jpg), for a single input.")
    var output: String?

    @Option(help: "A folder for the outputs, named after the inputs, as PNG.")
    var outputDir: String?

    @Option(help: "Refuse images with more pixels than this.")
    var maxPixels = Limits.defaultMaxPixels

    func validate() throws {
        guard (output == nil) != (outputDir == nil) else { throw ValidationError("give either -o OUT or --output-dir DIR") }
        try validating { try Limits.checkMaxPixels(maxPixels) }
    }

    /// Every input image (folders expanded) with where its result goes, checked before any work: -o takes one
    /// input, --output-dir must exist.
    func files() throws -> [(input: String, output: String)] {
        let files = try inputs.flatMap(Self.images)
        if output != nil && files.count != 1 {
            throw ValidationError("-o takes one input image, and \(files.count) were given; use --output-dir")
        }
        if let outputDir { try Self.checkFolder(outputDir) }
        let outputs = output.map { [$0] } ?? OutputPaths.inFolder(outputDir!, for: files)
        try OutputPaths.checkDistinct(outputs: outputs.map { (output != nil ? "-o" : "--output-dir", $0) }, inputs: files)
        return Array(zip(files, outputs))
    }

    func read(_ file: String) throws -> Image { try ImageIO.read(file, maxPixels: maxPixels) }

    static func checkFolder(_ path: String) throws {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw ValidationError("the output folder \(path) does not exist")
        }
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
