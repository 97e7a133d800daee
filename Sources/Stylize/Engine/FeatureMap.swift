import CDNNL

/// One image's activations at a layer, [1, C, H, W], left in the blocked layout oneDNN chose for them, as the
/// objectives see them: a band of image rows at a time, each band a plain position-major matrix [rows·W, C].
///
/// Gram matrices and feature differences are sums over positions, so they can be taken band by band; the whole
/// map is never copied to a plain layout. At 512 px such copies (67 MB at relu1_1) were a good part of the
/// memory of an iteration and their reorders a tenth of its time.
public final class FeatureMap {
    public let channels: Int
    public let height: Int
    public let width: Int
    let memory: Memory
    private let reorders: BandReorders

    init(_ memory: Memory, reorders: BandReorders) {
        precondition(memory.descriptor.sameLayout(as: reorders.layout), "a feature map in another layout than its bands")
        self.memory = memory
        self.reorders = reorders
        (channels, height, width) = (reorders.channels, reorders.height, reorders.width)
    }

    /// Rows per band: a band is about 2 MB, which stays in the cache between its reorder and its products.
    public var rowsPerBand: Int { reorders.rowsPerBand }

    /// The bands' row ranges, top to bottom.
    public var bands: [Range<Int>] {
        stride(from: 0, to: height, by: rowsPerBand).map { $0..<min($0 + rowsPerBand, height) }
    }

    /// Rows `rows` as a position-major matrix [rows.count·W, C]: position (y, x) is row (y − rows.lowerBound)·W + x.
    public func band(_ rows: Range<Int>) throws -> Tensor {
        let (reorder, view) = try reorders.band(rows, of: memory, adding: false)
        // Left uninitialised: the reorder writes every value (zeroing first cost a few percent of an iteration).
        let count = rows.count * width * channels
        var scalars = [Float](unsafeUninitializedCapacity: count) { _, initialized in initialized = count }
        try Memory.viewing(&scalars, as: [1, rows.count, width, channels], positionMajor: true) { reorder(view, into: $0) }
        return Tensor(shape: [rows.count * width, channels], scalars: scalars)
    }

    /// Adds a position-major band [rows.count·W, C] into rows `rows` of the map.
    public func add(_ band: Tensor, rows: Range<Int>) throws {
        precondition(band.shape == [rows.count * width, channels], "a band \(band.shape) for \(rows.count) rows of \(width)x\(channels)")
        let (reorder, view) = try reorders.band(rows, of: memory, adding: true)
        try Memory.viewing(band.scalars, as: [1, rows.count, width, channels], positionMajor: true) { reorder($0, into: view) }
    }

    /// The whole map as a position-major matrix [H·W, C] (for targets computed once).
    public func positionMajor() throws -> Tensor {
        Tensor(shape: [height * width, channels], scalars: try bands.flatMap { try band($0).scalars })
    }

    /// The whole map as a plain [C, H, W] tensor.
    public func plain() throws -> Tensor {
        let dims = memory.descriptor.shape
        var scalars = [Float](repeating: 0, count: dims.reduce(1, *))
        let reorder = try reorders.toPlain.get()
        try Memory.viewing(&scalars, as: dims) { reorder(memory, into: $0) }
        return Tensor(shape: Array(dims.dropFirst()), scalars: scalars)
    }

    /// scale · Fᵀ F in float32, F the map as a position-major matrix [H·W, C], computed in place by one oneDNN
    /// matmul on the bf16 units; nil unless the map is such a matrix in bf16 (`BandReorders.inPlaceProducts`),
    /// when the band-by-band float32 products serve instead.
    public func gramProduct(scale: Float) throws -> Tensor? {
        guard let products = try reorders.inPlaceProducts.get() else { return nil }
        var gram = [Float](repeating: 0, count: channels * channels)
        try Memory.viewing(&gram, as: [channels, channels]) { try products.gram(of: memory, scale: scale, into: $0) }
        return Tensor(shape: [channels, channels], scalars: gram)
    }

    /// Adds scale · F·M into `gradient`, a map of the same layer, for a symmetric C x C matrix M (rounded to bf16,
    /// as the gradient itself is): in place, like `gramProduct`. False, with nothing done, where that is not possible.
    public func addProduct(times matrix: Tensor, scale: Float, into gradient: FeatureMap) throws -> Bool {
        precondition(matrix.shape == [channels, channels] && gradient.memory.descriptor.sameLayout(as: memory.descriptor))
        guard let products = try reorders.inPlaceProducts.get() else { return false }
        try products.addProduct(of: memory, times: matrix, scale: scale, into: gradient.memory)
        return true
    }

    /// Adds a plain [C, H, W] tensor into the map.
    public func add(plain tensor: Tensor) throws {
        let dims = memory.descriptor.shape
        precondition(tensor.shape == Array(dims.dropFirst()), "adding \(tensor.shape) to a map of \(dims)")
        let accumulate = try reorders.addPlain.get()
        try Memory.viewing(tensor.scalars, as: dims) { accumulate($0, into: memory) }
    }
}

/// The reorders between a blocked [1, C, H, W] layout and plain position-major bands of rows, made once per
/// layer. A band is a view of the map: the map's own descriptor cut to fewer rows, at the address of its first
/// row, which any layout whose rows are not split into blocks allows (oneDNN's nChw16c, nhwc, nchw).
final class BandReorders {
    let layout: MemoryDescriptor
    let channels: Int
    let height: Int
    let width: Int
    let rowsPerBand: Int
    /// Floats between one row and the next in the blocked layout.
    private let rowStride: Int
    private var reorders: [Int: (read: Reorder, add: Reorder, view: MemoryDescriptor)] = [:]
    /// The whole map to and from plain [1, C, H, W].
    private(set) lazy var toPlain = Result { try Reorder(from: layout, to: .plain(layout.shape)) }
    private(set) lazy var addPlain = Result { try Reorder(from: .plain(layout.shape), to: layout, accumulate: true) }

    /// - Parameter bandBytes: about how large a plain band may be (the tests make it small, for many bands).
    init(layout: MemoryDescriptor, bandBytes: Int = 2 << 20) {
        let dims = layout.shape
        precondition(dims.count == 4 && dims[0] == 1, "feature maps are one image, [1, C, H, W], not \(dims)")
        self.layout = layout
        (channels, height, width) = (dims[1], dims[2], dims[3])
        if let stride = layout.rowStride {
            rowStride = stride
            rowsPerBand = max(1, min(height, bandBytes / (4 * channels * width)))
        } else {
            (rowStride, rowsPerBand) = (0, height)
        }
    }

    /// The primitives of `FeatureMap.gramProduct` and `addProduct` for a bf16 map stored position-major
    /// (oneDNN's nhwc, which its AMX kernels choose); nil for other layouts.
    private(set) lazy var inPlaceProducts = Result<InPlaceProducts?, Error> {
        guard layout.data_type == dnnl_bf16, layout.isPositionMajor else { return nil }
        return try InPlaceProducts(positions: height * width, channels: channels)
    }

    /// The reorder for a band of `rows` and a view of those rows of `memory`.
    func band(_ rows: Range<Int>, of memory: Memory, adding: Bool) throws -> (Reorder, Memory) {
        precondition(rows.lowerBound >= 0 && rows.upperBound <= height && !rows.isEmpty, "rows \(rows) of \(height)")
        precondition(rows.count == rowsPerBand || rows.upperBound == height, "bands start at multiples of \(rowsPerBand)")
        if reorders[rows.count] == nil {
            var view = MemoryDescriptor()
            var parent = layout
            try check(dnnl_memory_desc_init_submemory(&view, &parent, dnnlDims([1, channels, rows.count, width]),
                                                      dnnlDims([0, 0, 0, 0])), "memory_desc_init_submemory")
            let plain = MemoryDescriptor.positionMajor([1, channels, rows.count, width])
            reorders[rows.count] = (try Reorder(from: view, to: plain), try Reorder(from: plain, to: view, accumulate: true), view)
        }
        let (read, add, view) = reorders[rows.count]!
        return (adding ? add : read, try Memory(view, viewing: memory, offset: rows.lowerBound * rowStride))
    }
}

/// Gram products on a bf16 feature map F stored as a position-major matrix [P, C]: G = s · Fᵀ F into float32,
/// and dL/dF += s' · F M into the bf16 gradient map. Fᵀ is the same storage read with swapped strides. The scales
/// are part of the compiled products, made on first use for each (a layer's normalisation is fixed, so one each).
final class InPlaceProducts {
    private let features: MemoryDescriptor
    private let transposed: MemoryDescriptor
    private let square: MemoryDescriptor
    private var grams: [Float: MatrixProduct] = [:]
    private var gradients: [Float: MatrixProduct] = [:]
    private let toBF16: Reorder
    /// M in bf16, refilled before each gradient product.
    private let matrix: Memory

    init(positions p: Int, channels c: Int) throws {
        features = MemoryDescriptor.matrix(p, c, rowStride: c, columnStride: 1, dnnl_bf16)
        transposed = MemoryDescriptor.matrix(c, p, rowStride: 1, columnStride: c, dnnl_bf16)
        square = MemoryDescriptor.matrix(c, c, rowStride: c, columnStride: 1, dnnl_bf16)
        toBF16 = try Reorder(from: .plain([c, c]), to: square)
        matrix = try Memory(square)
    }

    /// G = s · Fᵀ F for the map in `map`, into a float32 [C, C] memory.
    func gram(of map: Memory, scale: Float, into destination: Memory) throws {
        if grams[scale] == nil {
            grams[scale] = try MatrixProduct(a: transposed, b: features, c: destination.descriptor, alpha: scale, accumulate: false)
        }
        grams[scale]!(try Memory(transposed, viewing: map, offset: 0), try Memory(features, viewing: map, offset: 0), into: destination)
    }

    /// gradient += s · F M.
    func addProduct(of map: Memory, times m: Tensor, scale: Float, into gradientMap: Memory) throws {
        if gradients[scale] == nil {
            gradients[scale] = try MatrixProduct(a: features, b: square, c: features, alpha: scale, accumulate: true)
        }
        try Memory.viewing(m.scalars, as: m.shape) { toBF16($0, into: matrix) }
        gradients[scale]!(try Memory(features, viewing: map, offset: 0), matrix, into: try Memory(features, viewing: gradientMap, offset: 0))
    }
}
