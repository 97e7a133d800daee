/// Shi et al.'s periodic shuffle: [N, C·r², H, W] → [N, C, H·r, W·r], with
/// out[n, c, y·r + i, x·r + j] = in[n, c·r² + i·r + j, y, x]. It only moves values, so its backward pass is the
/// inverse move (`unshuffled`), which PyTorch calls pixel_unshuffle.
extension Tensor {
    public func pixelShuffled(scale r: Int) -> Tensor {
        precondition(shape.count == 4 && shape[1] % (r * r) == 0, "pixel shuffle of \(shape) by \(r)")
        let (n, c, h, w) = (shape[0], shape[1] / (r * r), shape[2], shape[3])
        var out = [Float](repeating: 0, count: count)
        Self.forEachShuffledPair(n: n, c: c, h: h, w: w, r: r) { shuffled, source in out[shuffled] = scalars[source] }
        return Tensor(shape: [n, c, h * r, w * r], scalars: out)
    }

    /// The inverse of `pixelShuffled`: [N, C, H·r, W·r] → [N, C·r², H, W].
    public func unshuffled(scale r: Int) -> Tensor {
        precondition(shape.count == 4 && shape[2] % r == 0 && shape[3] % r == 0, "pixel unshuffle of \(shape) by \(r)")
        let (n, c, h, w) = (shape[0], shape[1], shape[2] / r, shape[3] / r)
        var out = [Float](repeating: 0, count: count)
        Self.forEachShuffledPair(n: n, c: c, h: h, w: w, r: r) { shuffled, source in out[source] = scalars[shuffled] }
        return Tensor(shape: [n, c * r * r, h, w], scalars: out)
    }

    /// Calls `body(index in the shuffled tensor, index in the channel-stacked one)` for every value, walking the
    /// shuffled tensor in order.
    private static func forEachShuffledPair(n: Int, c: Int, h: Int, w: Int, r: Int, _ body: (Int, Int) -> Void) {
        var shuffled = 0
        for image in 0..<n {
            for channel in 0..<c {
                for y in 0..<h * r {
                    let (row, i) = y.quotientAndRemainder(dividingBy: r)
                    let plane = ((image * c + channel) * r * r + i * r) * h * w + row * w
                    for x in 0..<w * r {
                        let (column, j) = x.quotientAndRemainder(dividingBy: r)
                        body(shuffled, plane + j * h * w + column)
                        shuffled += 1
                    }
                }
            }
        }
    }
}
