/// Texture reconstruction at one layer: weight · mean over C, C of (G − A)², with G the Gram matrix of the
/// image's features and A the style image's. With a mask, G is taken over the masked features only.
public struct StyleLoss: Sendable {
    public let target: Tensor
    public let weight: Float
    /// At the layer's size, or nil for the whole image.
    public let mask: StyleMask?

    /// - Parameter target: the style image's Gram matrix at this layer (`GramMatrix.of`).
    public init(target: Tensor, weight: Float, mask: StyleMask? = nil) {
        self.target = target
        self.weight = weight
        self.mask = mask
    }

    public func callAsFunction(_ features: Tensor) -> (loss: Double, gradient: Tensor) {
        let gram = mask.map { GramMatrix.of(features, mask: $0) } ?? GramMatrix.of(features)
        precondition(gram.shape == target.shape, "style Gram \(gram.shape) vs target \(target.shape)")
        let (loss, gramGradient) = meanSquaredError(gram, target, weight: weight)
        let gradient = mask.map { GramMatrix.backward(gramGradient, features: features, mask: $0) }
            ?? GramMatrix.backward(gramGradient, features: features)
        return (loss, gradient)
    }

    /// The same on a feature map in oneDNN's layout: returns the loss and adds its gradient into `gradient`.
    public func callAsFunction(_ features: FeatureMap, addingGradientTo gradient: FeatureMap) throws -> Double {
        let gram = try GramMatrix.of(features, mask: mask)
        precondition(gram.shape == target.shape, "style Gram \(gram.shape) vs target \(target.shape)")
        let (loss, gramGradient) = meanSquaredError(gram, target, weight: weight)
        try GramMatrix.backward(gramGradient, features: features, mask: mask, addingTo: gradient)
        return loss
    }
}
