#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension Image {
    /// Resampling kernels with Pillow's shapes and supports (`PIL.Image.Resampling`), so that
    /// results can be checked against Pillow and match what PyTorch pipelines built on it see.
    public enum Filter: Sendable, CaseIterable {
        case box
        case bilinear
        /// Keys' cubic with a = -0.5, Pillow's BICUBIC.
        case bicubic
        case lanczos3

        /// Half-width of the kernel in input pixels when not downscaling.
        var support: Double {
            switch self {
            case .box: 0.5
            case .bilinear: 1
            case .bicubic: 2
            case .lanczos3: 3
            }
        }

        func weight(at x: Double) -> Double {
            switch self {
            case .box:
                // Half-open, so that a sample exactly between two outputs belongs to one only.
                return x > -0.5 && x <= 0.5 ? 1 : 0
            case .bilinear:
                return max(0, 1 - abs(x))
            case .bicubic:
                let a = -0.5
                let x = abs(x)
                if x < 1 { return ((a + 2) * x - (a + 3)) * x * x + 1 }
                if x < 2 { return (((x - 5) * x + 8) * x - 4) * a }
                return 0
            case .lanczos3:
                return -3 <= x && x < 3 ? sinc(x) * sinc(x / 3) : 0
            }
        }

        private func sinc(_ x: Double) -> Double {
            x == 0 ? 1 : sin(Double.pi * x) / (Double.pi * x)
        }
    }

    /// The image resampled to `width` x `height` by a separable filter, rows first.
    ///
    /// When shrinking, the kernel is stretched by the scale factor so that every input pixel
    /// contributes (antialiasing), as Pillow does; at the borders the kernel is cut off and its
    /// weights renormalised. A side whose size does not change is left untouched.
    public func resized(width newWidth: Int, height newHeight: Int, filter: Filter = .lanczos3) -> Image {
        precondition(newWidth > 0 && newHeight > 0, "cannot resize to \(newWidth)x\(newHeight)")
        precondition(width > 0 && height > 0, "cannot resize an empty \(width)x\(height) image")
        var result = self
        if newWidth != width {
            result = result.resamplingRows(with: ResamplingWeights(from: width, to: newWidth, filter: filter))
        }
        if newHeight != height {
            result = result.resamplingColumns(with: ResamplingWeights(from: height, to: newHeight, filter: filter))
        }
        return result
    }

    /// The image resized so that its longer side is `longSide` pixels, keeping the aspect ratio
    /// (the shorter side is rounded, and at least one pixel).
    public func resized(longSide: Int, filter: Filter = .lanczos3) -> Image {
        precondition(longSide > 0, "cannot resize to a long side of \(longSide)")
        let scale = Double(longSide) / Double(max(width, height))
        func scaled(_ side: Int) -> Int { max(1, Int((Double(side) * scale).rounded())) }
        return width >= height
            ? resized(width: longSide, height: scaled(height), filter: filter)
            : resized(width: scaled(width), height: longSide, filter: filter)
    }

    /// Each row of each channel resampled to `weights.outputSize` columns.
    private func resamplingRows(with weights: ResamplingWeights) -> Image {
        let newWidth = weights.outputSize
        var output = [Float](repeating: 0, count: Image.channelCount * height * newWidth)
        for row in 0..<(Image.channelCount * height) {
            let inputRow = row * width
            let outputRow = row * newWidth
            for x in 0..<newWidth {
                let first = inputRow + weights.firstInput[x]
                let firstWeight = x * weights.stride
                var sum: Float = 0
                for tap in 0..<weights.tapCount[x] {
                    sum += pixels[first + tap] * weights.weights[firstWeight + tap]
                }
                output[outputRow + x] = sum
            }
        }
        return Image(width: newWidth, height: height, pixels: output)
    }

    /// Each column resampled to `weights.outputSize` rows, done as weighted sums of whole rows
    /// so that the inner loop runs along contiguous memory.
    private func resamplingColumns(with weights: ResamplingWeights) -> Image {
        let newHeight = weights.outputSize
        var output = [Float](repeating: 0, count: Image.channelCount * newHeight * width)
        for channel in 0..<Image.channelCount {
            for y in 0..<newHeight {
                let outputRow = (channel * newHeight + y) * width
                for tap in 0..<weights.tapCount[y] {
                    let inputRow = (channel * height + weights.firstInput[y] + tap) * width
                    let weight = weights.weights[y * weights.stride + tap]
                    for x in 0..<width {
                        output[outputRow + x] += weight * pixels[inputRow + x]
                    }
                }
            }
        }
        return Image(width: width, height: newHeight, pixels: output)
    }
}

/// For each output position along one axis, the run of input positions it reads and their
/// weights; computed once per axis and shared by every row (or column) and channel.
struct ResamplingWeights {
    let outputSize: Int
    /// Weights per output position in `weights`, the longest run; shorter runs are zero-padded.
    let stride: Int
    let firstInput: [Int]
    let tapCount: [Int]
    let weights: [Float]

    /// Pillow's `precompute_coeffs`: output pixel i is centred on input coordinate
    /// (i + 0.5) * scale, and reads the inputs whose centres fall within the support.
    init(from inputSize: Int, to outputSize: Int, filter: Image.Filter) {
        let scale = Double(inputSize) / Double(outputSize)
        let kernelScale = max(scale, 1)
        let support = filter.support * kernelScale
        let stride = Int(support.rounded(.up)) * 2 + 1

        var firstInput = [Int](repeating: 0, count: outputSize)
        var tapCount = [Int](repeating: 0, count: outputSize)
        var weights = [Float](repeating: 0, count: outputSize * stride)
        for output in 0..<outputSize {
            let center = (Double(output) + 0.5) * scale
            let first = max(Int(center - support + 0.5), 0)
            let end = min(Int(center + support + 0.5), inputSize)
            let raw = (first..<end).map { input in
                filter.weight(at: (Double(input) - center + 0.5) / kernelScale)
            }
            let total = raw.reduce(0, +)
            for (tap, weight) in raw.enumerated() {
                weights[output * stride + tap] = Float(total == 0 ? weight : weight / total)
            }
            firstInput[output] = first
            tapCount[output] = end - first
        }
        self.outputSize = outputSize
        self.stride = stride
        self.firstInput = firstInput
        self.tapCount = tapCount
        self.weights = weights
    }
}

extension Image {
    /// Half the size (rounded), by antialiased bicubic.
    public func halved() -> Image {
        resized(width: max(1, (width + 1) / 2), height: max(1, (height + 1) / 2), filter: .bicubic)
    }
}
