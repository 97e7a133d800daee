/// Smoothness prior on the image x ([C, H, W]), as in jcjohnson/neural-style:
/// weight · ½ · Σ over c, i < H−1, j < W−1 of (x[c,i,j+1] − x[c,i,j])² + (x[c,i+1,j] − x[c,i,j])².
public struct TotalVariation: Sendable {
    public let weight: Float

    public init(weight: Float) { self.weight = weight }

    public func callAsFunction(_ image: Tensor) -> (loss: Double, gradient: Tensor) {
        let (channels, height, width) = (image.shape[0], image.shape[1], image.shape[2])
        var gradient = [Float](repeating: 0, count: image.count)
        var sum = 0.0
        guard height > 1 && width > 1 else { return (0, Tensor(shape: image.shape, scalars: gradient)) }
        image.scalars.withUnsafeBufferPointer { x in
            for c in 0..<channels {
                for i in 0..<(height - 1) {
                    for j in 0..<(width - 1) {
                        let here = (c * height + i) * width + j
                        let dx = x[here + 1] - x[here]
                        let dy = x[here + width] - x[here]
                        sum += Double(dx * dx + dy * dy)
                        gradient[here] -= weight * (dx + dy)
                        gradient[here + 1] += weight * dx
                        gradient[here + width] += weight * dy
                    }
                }
            }
        }
        return (Double(weight) * 0.5 * sum, Tensor(shape: image.shape, scalars: gradient))
    }
}
