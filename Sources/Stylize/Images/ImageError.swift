/// Why an image could not be read or written. Each description is one line that names the file,
/// fit to show a user as it is.
public enum ImageError: Error, Equatable, CustomStringConvertible {
    case fileNotFound(path: String)
    /// The file exists but could not be opened or read: permissions, a directory, out of memory.
    case cannotRead(path: String, reason: String)
    /// Neither PNG nor JPEG, judged by the file's first bytes.
    case notAnImage(path: String)
    /// A PNG or JPEG that the decoder gave up on; the reason is the decoder's.
    case corrupt(path: String, reason: String)
    /// A valid image of a kind that is not decoded (CMYK JPEG).
    case unsupportedImage(path: String, reason: String)
    case tooLarge(path: String, width: Int, height: Int, maxPixels: Int)
    case zeroSize(path: String)
    case unsupportedExtension(path: String)
    case cannotWrite(path: String, reason: String)

    public var description: String {
        switch self {
        case .fileNotFound(let path):
            "cannot read '\(path)': no such file"
        case .cannotRead(let path, let reason):
            "cannot read '\(path)': \(reason)"
        case .notAnImage(let path):
            "'\(path)' is not an image: only PNG and JPEG files can be read"
        case .corrupt(let path, let reason):
            "'\(path)' is truncated or corrupt: \(reason)"
        case .unsupportedImage(let path, let reason):
            "'\(path)' cannot be read: \(reason)"
        case .tooLarge(let path, let width, let height, let maxPixels):
            "'\(path)' is \(width)x\(height) = \(width * height) pixels, over the pixel limit of \(maxPixels)"
        case .zeroSize(let path):
            "'\(path)' has zero width or height"
        case .unsupportedExtension(let path):
            "cannot write '\(path)': the file name must end in .png, .jpg or .jpeg"
        case .cannotWrite(let path, let reason):
            "cannot write '\(path)': \(reason)"
        }
    }
}
