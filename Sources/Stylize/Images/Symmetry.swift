/// One of the eight symmetries of a rectangle's grid, the mirrors and quarter turns: a transpose (rows become columns)
/// or not, then an upside-down flip or not, then a left-right mirror or not. Training crops are drawn in all eight
/// (`PhotoCrops.Augmentation.dihedral`), and an upscaler can average its output over all eight
/// (`Upscaler.selfEnsemble`).
public struct Symmetry: Hashable, Sendable, CustomStringConvertible {
    public var transposed: Bool
    public var upsideDown: Bool
    public var mirrored: Bool

    public init(transposed: Bool = false, upsideDown: Bool = false, mirrored: Bool = false) {
        self.transposed = transposed
        self.upsideDown = upsideDown
        self.mirrored = mirrored
    }

    public static let identity = Symmetry()

    /// All eight, those that keep the width and height first.
    public static let all: [Symmetry] = [false, true].flatMap { transposed in
        [false, true].flatMap { upsideDown in
            [false, true].map { Symmetry(transposed: transposed, upsideDown: upsideDown, mirrored: $0) }
        }
    }

    /// The symmetry that undoes this one. The flips act after the transpose, so undoing a transposed one flips
    /// first: its upside-down flip becomes a left-right mirror and the other way round.
    public var inverse: Symmetry {
        transposed ? Symmetry(transposed: true, upsideDown: mirrored, mirrored: upsideDown) : self
    }

    public var description: String {
        let parts = [transposed ? "transposed" : nil, upsideDown ? "upside down" : nil, mirrored ? "mirrored" : nil]
        return parts.contains { $0 != nil } ? parts.compactMap { $0 }.joined(separator: ", ") : "identity"
    }
}

extension Image {
    /// The image transposed and flipped as `symmetry` says; a transposed image has its width and height swapped.
    public func transformed(by symmetry: Symmetry) -> Image {
        if symmetry == .identity { return self }
        let (outputHeight, outputWidth) = symmetry.transposed ? (width, height) : (height, width)
        var output = [Float](repeating: 0, count: pixels.count)
        pixels.withUnsafeBufferPointer { source in
            output.withUnsafeMutableBufferPointer { output in
                for c in 0..<Image.channelCount {
                    for row in 0..<outputHeight {
                        for column in 0..<outputWidth {
                            // Where this output pixel comes from: a transpose, then the flips.
                            var (sourceRow, sourceColumn) = symmetry.transposed ? (column, row) : (row, column)
                            if symmetry.upsideDown { sourceRow = height - 1 - sourceRow }
                            if symmetry.mirrored { sourceColumn = width - 1 - sourceColumn }
                            output[(c * outputHeight + row) * outputWidth + column] =
                                source[(c * height + sourceRow) * width + sourceColumn]
                        }
                    }
                }
            }
        }
        return Image(width: outputWidth, height: outputHeight, pixels: output)
    }
}
