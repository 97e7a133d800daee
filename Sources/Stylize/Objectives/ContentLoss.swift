/// Feature reconstruction: weight · mean over C, H, W of (F − P)², with P the content photo's features.
public struct ContentLoss: Sendable {
    /// P: plain [C, H, W] for plain features, or position-major [H·W, C] (`FeatureMap.positionMajor`) for maps.
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

    /// The same on a feature map in oneDNN's layout, band by band: returns the loss and adds its gradient into
    /// `gradient`. Each band's share of the mean is its share of the values.
    public func callAsFunction(_ features: FeatureMap, addingGradientTo gradient: FeatureMap) throws -> Double {
        let c = features.channels
        precondition(target.shape == [features.height * features.width, c],
                     "a position-major content target \(target.shape) for features \([c, features.height, features.width])")
        var loss = 0.0
        for rows in features.bands {
            let positions = (rows.lowerBound * features.width * c)..<(rows.upperBound * features.width * c)
            let band = try features.band(rows)
            let share = Float(positions.count) / Float(target.count)
            let (value, bandGradient) = meanSquaredError(band, Tensor(shape: band.shape, scalars: Array(target.scalars[positions])),
                                                         weight: weight * share)
            loss += value
            try gradient.add(bandGradient, rows: rows)
        }
        return loss
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
