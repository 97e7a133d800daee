/// Limited-memory BFGS without line search, as in torch's `optim.lbfgs` that jcjohnson/neural-style uses:
/// one objective evaluation per iteration, a fixed step of `learningRate` along the quasi-Newton direction
/// (the first step scaled down by the gradient's L1 norm, since no curvature is known yet).
///
/// Drive it ask-and-tell: evaluate the objective at `x`, then call `step(&x, gradient:)`.
public struct LBFGS: Sendable {
    public let history: Int
    public let learningRate: Float

    private var steps: [[Float]] = []          // s_k = x_{k+1} − x_k
    private var gradientChanges: [[Float]] = [] // y_k = g_{k+1} − g_k
    private var curvatures: [Float] = []        // ρ_k = 1 / y_kᵀs_k
    private var previousGradient: [Float]? = nil
    private var previousStep: [Float]? = nil
    private var hessianScale: Float = 1         // γ = sᵀy / yᵀy, the initial inverse Hessian H₀ = γI

    public init(history: Int = 100, learningRate: Float = 1) {
        precondition(history > 0 && learningRate > 0)
        self.history = history
        self.learningRate = learningRate
    }

    /// Moves `x` given the objective's gradient at `x`.
    public mutating func step(_ x: inout [Float], gradient: [Float]) {
        var stepSize = learningRate
        if let previousGradient, let previousStep {
            let y = zip(gradient, previousGradient).map { $0 - $1 }
            let ys = dot(y, previousStep)
            // Keep the pair only when it carries positive curvature; otherwise the update would break H's
            // positive definiteness.
            if ys > 1e-10 {
                if steps.count == history {
                    steps.removeFirst()
                    gradientChanges.removeFirst()
                    curvatures.removeFirst()
                }
                steps.append(previousStep)
                gradientChanges.append(y)
                curvatures.append(1 / ys)
                hessianScale = ys / dot(y, y)
            }
        } else {
            let l1 = gradient.reduce(0) { $0 + abs($1) }
            stepSize = min(1, 1 / max(l1, .leastNormalMagnitude)) * learningRate
        }
        let direction = twoLoopDirection(gradient)
        let step = direction.map { $0 * stepSize }
        for i in x.indices { x[i] += step[i] }
        previousGradient = gradient
        previousStep = step
    }

    /// Takes back all but `factor` of the last step: `x` moves to where it was plus `factor` times the step, and
    /// the step remembered for the next curvature pair is the shortened one. With no line search, a step can be far
    /// too long: from an image that is already partly optimised, the first step (scaled down by the gradient's L1
    /// norm) is too small to change a bf16 gradient measurably, the curvature pair it gives claims almost none, and
    /// the next step, scaled by that pair, blows the objective up. The caller shortens such a step until the
    /// objective is sane again (`StyleTransfer.run`).
    public mutating func shortenLastStep(_ x: inout [Float], by factor: Float) {
        guard var step = previousStep else { return }
        for i in x.indices { x[i] -= (1 - factor) * step[i] }
        for i in step.indices { step[i] *= factor }
        previousStep = step
    }

    /// −H·g by the two-loop recursion over the stored pairs (Nocedal & Wright, algorithm 7.4).
    private func twoLoopDirection(_ gradient: [Float]) -> [Float] {
        var q = gradient.map { -$0 }
        var alphas = [Float](repeating: 0, count: steps.count)
        for k in steps.indices.reversed() {
            alphas[k] = curvatures[k] * dot(steps[k], q)
            axpy(-alphas[k], gradientChanges[k], &q)
        }
        for i in q.indices { q[i] *= hessianScale }
        for k in steps.indices {
            let beta = curvatures[k] * dot(gradientChanges[k], q)
            axpy(alphas[k] - beta, steps[k], &q)
        }
        return q
    }
}

/// Σ aᵢbᵢ. Sixteen float lanes at a time (the vectors are millions long and this runs hundreds of times per
/// iteration with a full history), the lanes' partial sums added in double precision.
@inline(__always)
func dot(_ a: [Float], _ b: [Float]) -> Float {
    precondition(a.count == b.count)
    return a.withUnsafeBufferPointer { a in
        b.withUnsafeBufferPointer { b in
            let blocks = a.count / 16
            var total = 0.0
            a.baseAddress!.withMemoryRebound(to: SIMD16<Float>.self, capacity: blocks) { va in
                b.baseAddress!.withMemoryRebound(to: SIMD16<Float>.self, capacity: blocks) { vb in
                    // Chunks of 4096 values keep the float partial sums short enough to stay accurate.
                    var block = 0
                    while block < blocks {
                        var lanes = SIMD16<Float>()
                        for i in block..<min(block + 256, blocks) { lanes += va[i] * vb[i] }
                        total += Double(lanes.sum())
                        block += 256
                    }
                }
            }
            for i in (blocks * 16)..<a.count { total += Double(a[i] * b[i]) }
            return Float(total)
        }
    }
}

/// y += alpha·x
@inline(__always)
func axpy(_ alpha: Float, _ x: [Float], _ y: inout [Float]) {
    precondition(x.count == y.count)
    x.withUnsafeBufferPointer { x in
        y.withUnsafeMutableBufferPointer { y in
            for i in 0..<x.count { y[i] += alpha * x[i] }
        }
    }
}
