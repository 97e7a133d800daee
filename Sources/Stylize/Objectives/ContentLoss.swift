/// Feature reconstruction: weight · mean over C, H, W of (F − P)², with P the content photo's features.
public struct ContentLoss: Sendable {
    public let target: Tensor
    public let weight: Float

    public init(target: Tensor, weight: Float) {
        self.target = target
        self.weight = weight
    }

    /// The loss and its gradient with respect to the features.
    public func callAsFunction(_ features: Tensor) -> (loss: Double, gradient: Tensor) {
        precondition(features.shape == target.shape, "content features \(features.shape) vs target \(target.shape)")
        return meanSquaredError(features, target, weight: weight)
    }
}

/// weight · mean of (a − b)², and its gradient with respect to a: the shape of every term here.
func meanSquaredError(_ a: Tensor, _ b: Tensor, weight: Float) -> (loss: Double, gradient: Tensor) {
    let scale = 2 * weight / Float(a.count)
    var sum = 0.0
    var gradient = [Float](repeating: 0, count: a.count)
    for i in 0..<a.count {
        let difference = a.scalars[i] - b.scalars[i]
        sum += Double(difference * difference)
        gradient[i] = scale * difference
    }
    return (Double(weight) * sum / Double(a.count), Tensor(shape: a.shape, scalars: gradient))
}
