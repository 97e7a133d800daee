import XCTest
@testable import Stylize

/// The loss terms' gradients against central differences of their own values (in double precision sums).
final class ObjectiveTests: XCTestCase, RandomTensors {
    var random = SeededGenerator(seed: 11)

    func checkGradient(_ f: (Tensor) -> (loss: Double, gradient: Tensor), at x: Tensor, epsilon: Float = 1e-2,
                       file: StaticString = #filePath, line: UInt = #line) {
        let analytic = f(x).gradient
        for _ in 0..<10 {
            let i = Int(random.next() % UInt64(x.count))
            var plus = x, minus = x
            plus.scalars[i] += epsilon; minus.scalars[i] -= epsilon
            let numeric = (f(plus).loss - f(minus).loss) / Double(2 * epsilon)
            XCTAssertEqual(Double(analytic.scalars[i]), numeric, accuracy: 2e-3 * max(1e-3, abs(numeric)) + 1e-6,
                           "element \(i)", file: file, line: line)
        }
    }

    func testContentLossValueAndGradient() {
        let target = randomTensor([4, 5, 6]), features = randomTensor([4, 5, 6])
        let loss = ContentLoss(target: target, weight: 5)
        let expected = 5 * zip(features.scalars, target.scalars).map { Double(($0 - $1) * ($0 - $1)) }.reduce(0, +) / 120
        XCTAssertEqual(loss(features).loss, expected, accuracy: 1e-9 * expected)
        checkGradient(loss.callAsFunction, at: features)
    }

    func testGramMatrixAgainstDefinition() {
        let f = randomTensor([3, 2, 4])
        let gram = GramMatrix.of(f)
        for a in 0..<3 { for b in 0..<3 {
            let expected = (0..<8).map { f.scalars[a * 8 + $0] * f.scalars[b * 8 + $0] }.reduce(0, +) / 24
            XCTAssertEqual(gram.scalars[a * 3 + b], expected, accuracy: 1e-6)
        }}
    }

    func testStyleLossGradient() {
        let style = randomTensor([6, 5, 7], scale: 3)
        let loss = StyleLoss(target: GramMatrix.of(style), weight: 100)
        checkGradient(loss.callAsFunction, at: randomTensor([6, 5, 7], scale: 3))
        XCTAssertEqual(loss(style).loss, 0, accuracy: 1e-9, "the style image itself has no style loss")
    }

    func testTotalVariationValueAndGradient() {
        let x = Tensor(shape: [1, 2, 3], scalars: [0, 1, 3, 2, 2, 2])
        // Only i < H−1, j < W−1: pixels (0,0) and (0,1). (0,0): dx 1, dy 2; (0,1): dx 2, dy 1 → ½·10 = 5.
        XCTAssertEqual(TotalVariation(weight: 1)(x).loss, 5, accuracy: 1e-12)
        checkGradient(TotalVariation(weight: 0.3).callAsFunction, at: randomTensor([3, 6, 5], scale: 10))
    }
}

final class OptimizerTests: XCTestCase {
    /// Rosenbrock's valley in n dimensions: minimum 0 at (1, ..., 1), hard for first-order methods.
    func rosenbrock(_ x: [Float]) -> (Double, [Float]) {
        var value = 0.0
        var gradient = [Float](repeating: 0, count: x.count)
        for i in 0..<(x.count - 1) {
            let (a, b) = (Double(x[i]), Double(x[i + 1]))
            value += 100 * (b - a * a) * (b - a * a) + (1 - a) * (1 - a)
            gradient[i] += Float(-400 * a * (b - a * a) - 2 * (1 - a))
            gradient[i + 1] += Float(200 * (b - a * a))
        }
        return (value, gradient)
    }

    func testLBFGSMinimisesRosenbrock() {
        var x: [Float] = [-1.2, 1, -1.2, 1]
        var optimizer = LBFGS(history: 10)
        var (value, gradient) = rosenbrock(x)
        let start = value
        for _ in 0..<400 {
            optimizer.step(&x, gradient: gradient)
            (value, gradient) = rosenbrock(x)
        }
        XCTAssertLessThan(value, 1e-3 * start)
    }

    func testLBFGSSolvesAQuadraticExactlyAsTheoryPredicts() {
        // On f = ½ Σ cᵢxᵢ², with the pairs it collects, L-BFGS's steps converge far faster than gradient descent.
        let c: [Float] = [1, 2, 4, 8, 16]
        var x: [Float] = [1, 1, 1, 1, 1]
        var optimizer = LBFGS(history: 10)
        for _ in 0..<30 { optimizer.step(&x, gradient: zip(c, x).map { $0 * $1 }) }
        XCTAssertLessThan(x.map(abs).max()!, 1e-3)
    }

    func testAdamMinimisesAQuadraticBowl() {
        var x: [Float] = [3, -2, 5]
        var adam = Adam(learningRate: 0.1)
        for _ in 0..<500 { adam.step(&x, gradient: x.map { 2 * $0 }) }
        XCTAssertLessThan(x.map(abs).max()!, 1e-2)
        XCTAssertEqual(adam.iteration, 500)
    }

    func testAdamFirstStepIsTheLearningRateTimesTheGradientSign() {
        var x: [Float] = [0, 0]
        var adam = Adam(learningRate: 0.5)
        adam.step(&x, gradient: [3, -0.001])
        XCTAssertEqual(x[0], -0.5, accuracy: 1e-4)
        XCTAssertEqual(x[1], 0.5, accuracy: 1e-2)
    }
}

final class VectorTests: XCTestCase {
    func testDotMatchesADoublePrecisionSumOnLongAndOddLengths() {
        var random = SeededGenerator(seed: 3)
        for count in [1, 15, 17, 4096 * 3 + 5, 1_000_003] {
            let a = (0..<count).map { _ in random.uniform(-1, 1) }, b = (0..<count).map { _ in random.uniform(-1, 1) }
            let expected = zip(a, b).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
            XCTAssertEqual(Double(dot(a, b)), expected, accuracy: 1e-5 * max(1, abs(expected)) + 1e-4, "length \(count)")
        }
    }
}
