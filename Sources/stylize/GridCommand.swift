import ArgumentParser
import Stylize

struct GridCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "grid",
        abstract: "Lay images out in a grid, row by row, in one image (for galleries).",
        discussion: "Each image is shrunk to fit its square cell, centred on white; `-` leaves a cell empty."
    )

    @Argument(help: "The images, row by row; `-` for an empty cell.")
    var images: [String]

    @Option(name: .shortAndLong, help: "The grid image (.png, .jpg).")
    var output: String

    @Option(help: "Cells per row.")
    var columns = 4

    @Option(help: "Side of a square cell in pixels.")
    var cell = 256

    @Option(help: "White space between cells in pixels.")
    var gap = 4

    func validate() throws {
        guard !images.isEmpty else { throw ValidationError("give at least one image") }
        try validating { try Check.range(columns, 1...1000, "columns") }
        try validating { try Check.range(cell, 1...16384, "cell") }
        try validating { try Check.range(gap, 0...4096, "gap") }
    }

    func run() throws {
        try runReportingErrors {
            try ImageIO.checkWritable(output)
            let rows = (images.count + columns - 1) / columns
            let (width, height) = (columns * cell + (columns + 1) * gap, rows * cell + (rows + 1) * gap)
            try Limits.checkPixels(width: width, height: height, maxPixels: Limits.defaultMaxPixels, setting: "cell", what: "the grid")
            var grid = Image(width: width, height: height, repeating: 255)
            for (index, path) in images.enumerated() where path != "-" {
                let image = try ImageIO.read(path)
                let fitted = image.width > cell || image.height > cell ? image.resized(longSide: cell) : image
                let left = gap + (index % columns) * (cell + gap) + (cell - fitted.width) / 2
                let top = gap + (index / columns) * (cell + gap) + (cell - fitted.height) / 2
                for c in 0..<3 { for y in 0..<fitted.height { for x in 0..<fitted.width {
                    grid[c, top + y, left + x] = fitted[c, y, x]
                }}}
            }
            try ImageIO.write(grid, to: output)
        }
    }
}
