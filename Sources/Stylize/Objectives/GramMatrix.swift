/// The Gram matrix of a layer's features F ([C, H, W] seen as C x HW): G = F Fᵀ / (C·H·W).
/// Its entries are the correlations between channels, averaged over positions: the "style" of the layer,
/// with the spatial arrangement thrown away.
public enum GramMatrix {
    public static func of(_ features: Tensor) -> Tensor {
        let (c, positions) = (features.shape[0], features.count / features.shape[0])
        var gram = [Float](repeating: 0, count: c * c)
        gemm(features.scalars, transposed: false, features.scalars, transposed: true, m: c, n: c, k: positions,
             alpha: 1 / Float(features.count), into: &gram)
        return Tensor(shape: [c, c], scalars: gram)
    }

    /// dL/dF from dL/dG, for a symmetric dL/dG: (dL/dG + dL/dGᵀ) F / (C·H·W) = 2 dL/dG F / (C·H·W).
    public static func backward(_ gramGradient: Tensor, features: Tensor) -> Tensor {
        let (c, positions) = (features.shape[0], features.count / features.shape[0])
        var gradient = [Float](repeating: 0, count: features.count)
        gemm(gramGradient.scalars, features.scalars, m: c, n: positions, k: c, alpha: 2 / Float(features.count),
             into: &gradient)
        return Tensor(shape: features.shape, scalars: gradient)
    }
}
