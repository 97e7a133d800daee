import Foundation

/// Adam (Kingma & Ba 2014): per-coordinate steps scaled by running estimates of the gradient's first and
/// second moments, bias-corrected for their zero start.
public struct Adam: Sendable {
    public var learningRate: Float
    public let beta1: Float
    public let beta2: Float
    public let epsilon: Float
    public private(set) var iteration = 0
    public private(set) var firstMoment: [Float] = []
    public private(set) var secondMoment: [Float] = []

    public init(learningRate: Float, beta1: Float = 0.9, beta2: Float = 0.999, epsilon: Float = 1e-8) {
        self.learningRate = learningRate
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
    }

    /// Restores a saved state (training checkpoints).
    public init(learningRate: Float, iteration: Int, firstMoment: [Float], secondMoment: [Float]) {
        self.init(learningRate: learningRate)
        self.iteration = iteration
        self.firstMoment = firstMoment
        self.secondMoment = secondMoment
    }

    public mutating func step(_ x: inout [Float], gradient: [Float]) {
        if firstMoment.isEmpty {
            firstMoment = [Float](repeating: 0, count: x.count)
            secondMoment = firstMoment
        }
        precondition(gradient.count == x.count && firstMoment.count == x.count)
        iteration += 1
        let correction1 = 1 - Float(pow(Double(beta1), Double(iteration)))
        let correction2 = 1 - Float(pow(Double(beta2), Double(iteration)))
        let stepSize = learningRate / correction1
        let (b1, b2, eps) = (beta1, beta2, epsilon)
        firstMoment.withUnsafeMutableBufferPointer { m in
            secondMoment.withUnsafeMutableBufferPointer { v in
                for i in 0..<x.count {
                    let g = gradient[i]
                    m[i] = b1 * m[i] + (1 - b1) * g
                    v[i] = b2 * v[i] + (1 - b2) * g * g
                    x[i] -= stepSize * m[i] / ((v[i] / correction2).squareRoot() + eps)
                }
            }
        }
    }
}
