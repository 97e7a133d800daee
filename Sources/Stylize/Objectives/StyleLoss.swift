/// Texture reconstruction at one layer: weight · mean over C, C of (G − A)², with G the Gram matrix of the
/// image's features and A the style image's.
public struct StyleLoss: Sendable {
    public let target: Tensor
    public let weight: Float

    /// - Parameter target: the style image's Gram matrix at this layer (`GramMatrix.of`).
    public init(target: Tensor, weight: Float) {
        self.target = target
        self.weight = weight
    }

    public func callAsFunction(_ features: Tensor) -> (loss: Double, gradient: Tensor) {
        let gram = GramMatrix.of(features)
        precondition(gram.shape == target.shape, "style Gram \(gram.shape) vs target \(target.shape)")
        let (loss, gramGradient) = meanSquaredError(gram, target, weight: weight)
        return (loss, GramMatrix.backward(gramGradient, features: features))
    }
}
