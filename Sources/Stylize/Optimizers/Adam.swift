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

extension Adam {
    /// One step on a network's named parameters, given the loss's gradient for each (scaled by `gradientScale`,
    /// e.g. 1/batch). The parameters are laid end to end in their names' sorted order, which is also the order of
    /// the moments in a checkpoint.
    public mutating func step(_ parameters: [String: Tensor], gradients: [String: Tensor], gradientScale: Float = 1) -> [String: Tensor] {
        let names = parameters.keys.sorted()
        var flat = names.flatMap { parameters[$0]!.scalars }
        step(&flat, gradient: names.flatMap { name in gradients[name]!.scalars.map { $0 * gradientScale } })
        var updated: [String: Tensor] = [:]
        var offset = 0
        for name in names {
            let count = parameters[name]!.count
            updated[name] = Tensor(shape: parameters[name]!.shape, scalars: Array(flat[offset..<offset + count]))
            offset += count
        }
        return updated
    }

    /// Where a checkpoint keeps the state: metadata "optimizer_iteration", tensors "optimizer.first_moment" and
    /// "optimizer.second_moment" (the tensors' prefix tells them from the network's parameters).
    static let statePrefix = "optimizer."
    static let stateNames = (iteration: "optimizer_iteration", first: statePrefix + "first_moment", second: statePrefix + "second_moment")

    /// Adds the state to a checkpoint `file` of a network with `parameterCount` parameters. Before the first step
    /// there are no moments yet; zeros are what it would start from.
    func store(in file: inout SafetensorsFile, parameterCount: Int) {
        let zeros = [Float](repeating: 0, count: parameterCount)
        file.tensors[Self.stateNames.first] = Tensor(shape: [parameterCount], scalars: firstMoment.isEmpty ? zeros : firstMoment)
        file.tensors[Self.stateNames.second] = Tensor(shape: [parameterCount], scalars: secondMoment.isEmpty ? zeros : secondMoment)
        file.metadata[Self.stateNames.iteration] = "\(iteration)"
    }

    /// The state `store` wrote, for a network of `parameterCount` parameters.
    init(learningRate: Float, restoringFrom file: SafetensorsFile, parameterCount: Int) throws {
        guard let iteration = file.metadata[Self.stateNames.iteration].flatMap(Int.init),
              let first = file.tensors[Self.stateNames.first], let second = file.tensors[Self.stateNames.second],
              first.count == parameterCount, second.count == parameterCount else {
            throw InvalidInput("the optimizer state is missing or has the wrong size")
        }
        guard (0...Limits.largestCount).contains(iteration), first.isFinite, second.isFinite, second.scalars.allSatisfy({ $0 >= 0 }) else {
            throw InvalidInput("the optimizer state is damaged: a step count out of range, NaN or infinite moments, or a negative second moment")
        }
        self.init(learningRate: learningRate, iteration: iteration,
                  firstMoment: iteration == 0 ? [] : first.scalars, secondMoment: iteration == 0 ? [] : second.scalars)
    }
}
