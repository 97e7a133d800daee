/// A residual block (He et al. 2016) of the transformer network: out = x + IN(conv(ReLU(IN(conv(x))))).
/// Its backward pass sends the output gradient both through the two convolutions and straight to x, and adds them.
final class ResidualBlock {
    let layout: MemoryDescriptor
    let first: ConvolutionBlock
    let second: ConvolutionBlock
    private let addition: Addition
    let output: Memory
    private var inputGradient: Memory?

    init(first: ConvolutionSpec, second: ConvolutionSpec, shape: [Int], layout: MemoryDescriptor,
         parameters: [String: Tensor], precision: Precision = .fp32, storage: ActivationStorage = .own) throws {
        self.first = try ConvolutionBlock(first, inputShape: shape, inputLayout: layout, parameters: parameters,
                                          precision: precision, storage: storage)
        // The second convolution reads the first's output while the block's input waits for the addition.
        var secondStorage = storage
        if case .slots(let slots, let busy) = storage { secondStorage = .slots(slots, busy: busy + [self.first.output]) }
        self.second = try ConvolutionBlock(second, inputShape: shape, inputLayout: self.first.outputLayout,
                                           parameters: parameters, precision: precision, storage: secondStorage)
        // The addition needs both terms in one layout; oneDNN gives one for equal channel counts.
        guard second.output == shape[1], self.second.outputShape == shape, self.second.outputLayout.sameLayout(as: layout) else {
            throw EngineError(description: "residual block \(first.name): the branch's output layout differs from its input's")
        }
        self.layout = layout
        addition = try Addition(layout: layout)
        // Forward passes only: the sum goes over the block's input (the one `busy` memory, the previous stage's output),
        // which nothing reads after it.
        if case .slots(_, let busy) = storage {
            precondition(busy.count == 1, "a residual block's input is the previous stage's output")
            output = busy[0]
        } else {
            output = try Memory(mapping: layout)
        }
    }

    func setParameters(_ parameters: [String: Tensor]) throws {
        try first.setParameters(parameters)
        try second.setParameters(parameters)
    }

    func forward(_ input: Memory) -> Memory {
        let branch = second.forward(first.forward(input))
        addition(input, branch, into: output)
        return output
    }

    func backward(_ outputGradient: Memory, input: Memory, parameterGradients: inout [String: [Float]]) throws -> Memory {
        let middle = try second.backward(outputGradient, input: first.output, inputGradient: true,
                                         parameterGradients: &parameterGradients)!
        let branch = try first.backward(middle, input: input, inputGradient: true, parameterGradients: &parameterGradients)!
        if inputGradient == nil { inputGradient = try Memory(mapping: layout) }
        addition(outputGradient, branch, into: inputGradient!)
        return inputGradient!
    }
}
