import Foundation

/// Recolouring by linear colour transfer (Gatys et al. 2017, section 5, after Hertzmann et al.'s image
/// analogies): every pixel x becomes A(x − μₛ) + μ꜀ with A = Σ꜀^½ Σₛ^−½, which gives the image the
/// reference's mean colour μ꜀ and colour covariance Σ꜀ exactly (A Σₛ Aᵀ = Σ꜀), while keeping its own
/// texture and contrast structure.
extension Image {
    public func matchingColors(of reference: Image) -> Image {
        let (mean, covariance) = colorStatistics()
        let (targetMean, targetCovariance) = reference.colorStatistics()
        let transform = multiply(symmetricPower(targetCovariance, 0.5), symmetricPower(covariance, -0.5))
        let plane = width * height
        var out = pixels
        for i in 0..<plane {
            let centred = (0..<3).map { Double(pixels[$0 * plane + i]) - mean[$0] }
            for row in 0..<3 {
                let value = (0..<3).reduce(targetMean[row]) { $0 + transform[row * 3 + $1] * centred[$1] }
                out[row * plane + i] = Float(value)
            }
        }
        return Image(width: width, height: height, pixels: out)
    }

    /// Mean RGB and the 3x3 covariance (row-major) over all pixels, in double precision.
    public func colorStatistics() -> (mean: [Double], covariance: [Double]) {
        let plane = width * height
        let mean = (0..<3).map { c in (0..<plane).reduce(0.0) { $0 + Double(pixels[c * plane + $1]) } / Double(plane) }
        var covariance = [Double](repeating: 0, count: 9)
        for i in 0..<plane {
            let d = (0..<3).map { Double(pixels[$0 * plane + i]) - mean[$0] }
            for a in 0..<3 { for b in 0..<3 { covariance[a * 3 + b] += d[a] * d[b] } }
        }
        return (mean, covariance.map { $0 / Double(plane) })
    }
}

/// M^p for a symmetric positive semi-definite 3x3 matrix, through its eigenvectors. Eigenvalues are kept
/// above a small fraction of the largest, so that a grey (rank-one) image's inverse square root stays finite.
func symmetricPower(_ matrix: [Double], _ power: Double) -> [Double] {
    let (values, vectors) = jacobiEigen(matrix)
    let floor = max(values.max() ?? 0, 1e-12) * 1e-6
    let powered = values.map { pow(max($0, floor), power) }
    var out = [Double](repeating: 0, count: 9)
    for a in 0..<3 { for b in 0..<3 { for k in 0..<3 { out[a * 3 + b] += vectors[a * 3 + k] * powered[k] * vectors[b * 3 + k] } } }
    return out
}

private func multiply(_ a: [Double], _ b: [Double]) -> [Double] {
    var out = [Double](repeating: 0, count: 9)
    for i in 0..<3 { for j in 0..<3 { for k in 0..<3 { out[i * 3 + j] += a[i * 3 + k] * b[k * 3 + j] } } }
    return out
}

/// Eigenvalues and eigenvectors (as columns, row-major) of a symmetric 3x3 matrix by cyclic Jacobi rotations:
/// short, and exact to double precision after a handful of sweeps.
func jacobiEigen(_ matrix: [Double]) -> (values: [Double], vectors: [Double]) {
    var a = matrix
    var v: [Double] = [1, 0, 0, 0, 1, 0, 0, 0, 1]
    for _ in 0..<50 {
        let offDiagonal = a[1] * a[1] + a[2] * a[2] + a[5] * a[5]
        if offDiagonal < 1e-30 * max(1, a[0] * a[0] + a[4] * a[4] + a[8] * a[8]) { break }
        for (p, q) in [(0, 1), (0, 2), (1, 2)] where a[p * 3 + q] != 0 {
            let theta = (a[q * 3 + q] - a[p * 3 + p]) / (2 * a[p * 3 + q])
            let t = (theta >= 0 ? 1 : -1) / (abs(theta) + (theta * theta + 1).squareRoot())
            let c = 1 / (t * t + 1).squareRoot(), s = t * c
            // a ← Jᵀ a J, v ← v J, with J the rotation in the (p, q) plane.
            for k in 0..<3 {
                let (akp, akq) = (a[k * 3 + p], a[k * 3 + q])
                a[k * 3 + p] = c * akp - s * akq
                a[k * 3 + q] = s * akp + c * akq
            }
            for k in 0..<3 {
                let (apk, aqk) = (a[p * 3 + k], a[q * 3 + k])
                a[p * 3 + k] = c * apk - s * aqk
                a[q * 3 + k] = s * apk + c * aqk
            }
            for k in 0..<3 {
                let (vkp, vkq) = (v[k * 3 + p], v[k * 3 + q])
                v[k * 3 + p] = c * vkp - s * vkq
                v[k * 3 + q] = s * vkp + c * vkq
            }
        }
    }
    return ([a[0], a[4], a[8]], v)
}
