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
        let scale = 2 * weight / Float(features.count)
        var sum = 0.0
        var gradient = [Float](repeating: 0, count: features.count)
        for i in 0..<features.count {
            let difference = features.scalars[i] - target.scalars[i]
            sum += Double(difference * difference)
            gradient[i] = scale * difference
        }
        return (Double(weight) * sum / Double(features.count), Tensor(shape: features.shape, scalars: gradient))
    }
}
