import Foundation

/// The images `shared/reference/vgg19-reference.json` defines by formulas (float RGB 0...255, x = column,
/// y = row), so that any implementation can rebuild them exactly: the reference tests use them at 48x64, the
/// benchmarks at any size, the same way the PyTorch reference script does.
public enum FormulaImage: String, Sendable {
    case content, style, image

    public func tensor(height: Int, width: Int) -> Tensor {
        var scalars = [Float](repeating: 0, count: 3 * height * width)
        for c in 0..<3 { for y in 0..<height { for x in 0..<width {
            let (X, Y, C) = (Double(x), Double(y), Double(c))
            let value: Double
            switch self {
            case .content: value = 127.5 + 127.5 * sin(0.11 * (X + 1) * (C + 1) + 0.07 * (Y + 1) * (3 - C))
            case .style: value = 127.5 + 127.5 * cos(0.23 * X * (C + 2) - 0.19 * Y * (C + 1) + 0.5 * C)
            case .image: value = 127.5 + 100 * sin(0.05 * X * Y / (C + 1) + 0.3 * C) + 20 * cos(0.9 * (X - Y))
            }
            scalars[(c * height + y) * width + x] = Float(value)
        }}}
        return Tensor(shape: [3, height, width], scalars: scalars)
    }
}
