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

extension GramMatrix {
    /// The Gram matrix over the positions a mask selects (Gatys et al. 2017's spatial control):
    /// G = (F∘m)(F∘m)ᵀ / (C·Σm²), with m the mask at the features' size. Dividing by Σm² rather than H·W
    /// keeps G on the scale of an unmasked Gram matrix, so a style image's own Gram matrix is its target
    /// however small the region is. An all-zero mask gives G = 0.
    public static func of(_ features: Tensor, mask: StyleMask) -> Tensor {
        let masked = applying(mask, to: features)
        let c = features.shape[0]
        var gram = [Float](repeating: 0, count: c * c)
        let energy = mask.energy
        guard energy > 0 else { return Tensor(shape: [c, c], scalars: gram) }
        gemm(masked.scalars, transposed: false, masked.scalars, transposed: true, m: c, n: c, k: mask.values.count,
             alpha: 1 / (Float(c) * energy), into: &gram)
        return Tensor(shape: [c, c], scalars: gram)
    }

    /// dL/dF from a symmetric dL/dG for the masked Gram matrix: 2 m ∘ (dL/dG (F∘m)) / (C·Σm²). Features
    /// where the mask is 0 get no gradient: the style does not reach them.
    public static func backward(_ gramGradient: Tensor, features: Tensor, mask: StyleMask) -> Tensor {
        let c = features.shape[0]
        let energy = mask.energy
        guard energy > 0 else { return Tensor(zeros: features.shape) }
        let masked = applying(mask, to: features)
        var gradient = [Float](repeating: 0, count: features.count)
        gemm(gramGradient.scalars, masked.scalars, m: c, n: mask.values.count, k: c, alpha: 2 / (Float(c) * energy),
             into: &gradient)
        return applying(mask, to: Tensor(shape: features.shape, scalars: gradient))
    }

    /// F∘m: every channel multiplied by the mask, position by position.
    static func applying(_ mask: StyleMask, to features: Tensor) -> Tensor {
        let positions = mask.values.count
        precondition(features.shape.count == 3 && features.shape[1] == mask.height && features.shape[2] == mask.width,
                     "a \(mask.width)x\(mask.height) mask on features \(features.shape)")
        var out = features.scalars
        for channel in 0..<features.shape[0] {
            for i in 0..<positions { out[channel * positions + i] *= mask.values[i] }
        }
        return Tensor(shape: features.shape, scalars: out)
    }
}

extension GramMatrix {
    /// The Gram matrix of a feature map in oneDNN's layout, over a mask or not, summed band by band:
    /// G = Σ over bands of Bᵀ B, B the band's position-major features [positions, C] (times the mask).
    public static func of(_ features: FeatureMap, mask: StyleMask? = nil) throws -> Tensor {
        let c = features.channels
        let scale = normalization(features, mask)
        if mask == nil, let gram = try features.gramProduct(scale: scale) { return gram }
        var gram = [Float](repeating: 0, count: c * c)
        if scale > 0 {
            for rows in features.bands {
                let band = try masked(features.band(rows), rows: rows, of: features, by: mask)
                gemm(band.scalars, transposed: true, band.scalars, m: c, n: c, k: band.shape[0], alpha: scale, beta: 1,
                     into: &gram)
            }
        }
        return Tensor(shape: [c, c], scalars: gram)
    }

    /// Adds dL/dF, for a symmetric dL/dG, into `gradient`, band by band: 2 m ∘ (B dL/dG) / (C·Σm²) per band.
    public static func backward(_ gramGradient: Tensor, features: FeatureMap, mask: StyleMask? = nil,
                                addingTo gradient: FeatureMap) throws {
        let c = features.channels
        let scale = 2 * normalization(features, mask)
        guard scale > 0 else { return }
        if mask == nil, try features.addProduct(times: gramGradient, scale: scale, into: gradient) { return }
        for rows in features.bands {
            let band = try masked(features.band(rows), rows: rows, of: features, by: mask)
            let bandGradient = product(band.scalars, gramGradient.scalars, m: band.shape[0], n: c, k: c, alpha: scale)
            try gradient.add(masked(Tensor(shape: band.shape, scalars: bandGradient), rows: rows, of: features, by: mask), rows: rows)
        }
    }

    /// 1 / (C·Σm²), which is 1 / (C·H·W) without a mask; 0 for an all-zero mask.
    private static func normalization(_ features: FeatureMap, _ mask: StyleMask?) -> Float {
        guard let mask else { return 1 / Float(features.channels * features.height * features.width) }
        precondition(mask.height == features.height && mask.width == features.width,
                     "a \(mask.width)x\(mask.height) mask on \(features.width)x\(features.height) features")
        let energy = mask.energy
        return energy > 0 ? 1 / (Float(features.channels) * energy) : 0
    }

    /// A band [positions, C] with each position's row multiplied by the mask there.
    private static func masked(_ band: Tensor, rows: Range<Int>, of features: FeatureMap, by mask: StyleMask?) -> Tensor {
        guard let mask else { return band }
        let (c, first) = (features.channels, rows.lowerBound * features.width)
        var out = band.scalars
        for position in 0..<band.shape[0] {
            let m = mask.values[first + position]
            for channel in 0..<c { out[position * c + channel] *= m }
        }
        return Tensor(shape: band.shape, scalars: out)
    }
}
