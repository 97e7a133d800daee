/// A dense float32 tensor in row-major order: images and activations are [N, C, H, W] or [C, H, W],
/// convolution weights [out, in, kh, kw]. A value type; oneDNN's blocked layouts live only in the engine.
public struct Tensor: Sendable, Equatable {
    public var shape: [Int]
    public var scalars: [Float]

    public init(shape: [Int], scalars: [Float]) {
        precondition(shape.reduce(1, *) == scalars.count, "shape \(shape) does not hold \(scalars.count) scalars")
        self.shape = shape
        self.scalars = scalars
    }

    public init(zeros shape: [Int]) {
        self.init(shape: shape, scalars: [Float](repeating: 0, count: shape.reduce(1, *)))
    }

    public var count: Int { scalars.count }

    public func reshaped(_ newShape: [Int]) -> Tensor { Tensor(shape: newShape, scalars: scalars) }

    /// Sum and sum of squares in double precision, as the reference numbers are given.
    public var sum: Double { scalars.reduce(0.0) { $0 + Double($1) } }
    public var sumOfSquares: Double { scalars.reduce(0.0) { $0 + Double($1) * Double($1) } }
}

extension Tensor {
    /// Whether every value is a finite number: what a file read from disk or a training step must give before it is
    /// used or written.
    public var isFinite: Bool { scalars.allSatisfy(\.isFinite) }
}

/// The first tensor, by name, that holds NaN or an infinity, with a message for `InvalidInput`; nil when all are
/// finite.
func firstNonFinite(_ tensors: [String: Tensor]) -> String? {
    tensors.keys.sorted().first { !tensors[$0]!.isFinite }.map { "its tensor \($0) holds NaN or infinite values" }
}
