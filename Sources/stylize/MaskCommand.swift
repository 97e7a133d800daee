import ArgumentParser
import Stylize

struct MaskCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mask",
        abstract: "Draw a simple mask for --style-mask from a photo: one half of it, or where it is bright.",
        discussion: """
            White is where a style applies. `--split left` makes the left half white; `--threshold 0.5` makes white \
            the pixels whose luminance is above half, so a style can follow the photo's light and dark areas. \
            A painted mask from any image editor works as well; these are for trying the idea quickly.
            """
    )

    @Argument(help: "The photo the mask is for (it gets the photo's size).")
    var photo: String

    @Option(name: .shortAndLong, help: "The mask image (.png).")
    var output: String

    @Option(help: ArgumentHelp("Which half is white.", valueName: "left|right|top|bottom"))
    var split: Half?

    @Option(help: ArgumentHelp("White where the photo's luminance (0 to 1) is above this.", valueName: "level"))
    var threshold: Float?

    @Option(help: ArgumentHelp("With --threshold, blur the photo by a Gaussian of this many pixels first, for regions rather than speckles.",
                               valueName: "sigma"))
    var smooth: Float = 0

    @Flag(help: "Swap white and black.")
    var invert = false

    enum Half: String, ExpressibleByArgument, CaseIterable { case left, right, top, bottom }

    func validate() throws {
        guard (split == nil) != (threshold == nil) else { throw ValidationError("give one of --split and --threshold") }
        if let threshold, !(0...1).contains(threshold) { throw ValidationError("--threshold must be between 0 and 1") }
        try validating { try Check.blur(smooth, "smooth") }
    }

    func run() throws {
        try runReportingErrors {
            try ImageIO.checkWritable(output)
            let image = try ImageIO.read(photo)
            let (width, height) = (image.width, image.height)
            let luminance = image.gaussianBlurred(sigma: smooth).luminance
            let grey = (0..<width * height).map { i -> Float in
                let (x, y) = (i % width, i / width)
                let white: Bool
                switch split {
                case .left: white = 2 * x < width
                case .right: white = 2 * x >= width
                case .top: white = 2 * y < height
                case .bottom: white = 2 * y >= height
                case nil: white = luminance[i] > 255 * threshold!
                }
                return white != invert ? 255 : 0
            }
            try ImageIO.write(Image(width: width, height: height, grey: grey), to: output)
        }
    }
}
