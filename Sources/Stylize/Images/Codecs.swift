import CImageCodecs

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// The one place where image code calls C or touches raw memory. Everything above it works on
// Swift arrays.

/// Samples as a decoder gives them, before they become an `Image`: interleaved, with 1 (grey),
/// 2 (grey, alpha), 3 (RGB) or 4 (RGBA) channels. 8-bit values are widened so that 8- and 16-bit
/// files share one type; `maximum` says which they were.
struct DecodedSamples {
    let width: Int
    let height: Int
    let channels: Int
    let maximum: Int
    let samples: [UInt16]
}

/// Why a file could not be written, in words for a user.
struct WriteFailure: Error {
    let reason: String
}

enum Codecs {
    static func decode(_ path: String, maxPixels: Int) throws(ImageError) -> DecodedSamples {
        var image = codec_image()
        var error = codec_error()
        let status = codec_read_image(path, UInt64(maxPixels), &image, &error)
        defer { codec_free_image(&image) }

        let reason = message(of: error)
        switch status {
        case CODEC_OK:
            break
        case CODEC_CANNOT_OPEN where error.error_number == ENOENT:
            throw .fileNotFound(path: path)
        case CODEC_CANNOT_OPEN, CODEC_OUT_OF_MEMORY:
            throw .cannotRead(path: path, reason: reason)
        case CODEC_UNKNOWN_FORMAT:
            throw .notAnImage(path: path)
        case CODEC_TOO_LARGE:
            throw .tooLarge(path: path, width: Int(image.width), height: Int(image.height), maxPixels: maxPixels)
        case CODEC_ZERO_SIZE:
            throw .zeroSize(path: path)
        case CODEC_UNSUPPORTED:
            throw .unsupportedImage(path: path, reason: reason)
        default:  // CODEC_CORRUPT, the one status left that reading returns
            throw .corrupt(path: path, reason: reason)
        }

        let count = Int(image.width) * Int(image.height) * Int(image.channels)
        let samples: [UInt16]
        if image.bytes_per_sample == 2 {
            let values = UnsafeBufferPointer(start: image.samples.assumingMemoryBound(to: UInt16.self), count: count)
            samples = Array(values)
        } else {
            let bytes = UnsafeBufferPointer(start: image.samples.assumingMemoryBound(to: UInt8.self), count: count)
            samples = bytes.map(UInt16.init)
        }
        return DecodedSamples(
            width: Int(image.width), height: Int(image.height), channels: Int(image.channels),
            maximum: image.bytes_per_sample == 2 ? 65535 : 255, samples: samples)
    }

    /// Encodes 8-bit interleaved RGB into a file that must not exist yet; on failure no file is left.
    static func encode(
        _ rgb: [UInt8], width: Int, height: Int, as format: ImageFileFormat, quality: Int, toNewFile path: String
    ) throws(WriteFailure) {
        var error = codec_error()
        let status =
            switch format {
            case .png: codec_write_png(path, rgb, UInt32(width), UInt32(height), &error)
            case .jpeg: codec_write_jpeg(path, rgb, UInt32(width), UInt32(height), Int32(quality), &error)
            }
        guard status == CODEC_OK else {
            if error.error_number == ENOENT {
                throw WriteFailure(reason: "the directory '\(directory(of: path))' does not exist")
            }
            throw WriteFailure(reason: message(of: error))
        }
    }

    /// rename(2): replaces `destination` in one step, so readers see the old file or the new, never half.
    static func rename(_ source: String, to destination: String) throws(WriteFailure) {
        #if canImport(Glibc)
        let renamed = Glibc.rename(source, destination) == 0
        #else
        let renamed = Darwin.rename(source, destination) == 0
        #endif
        if !renamed { throw WriteFailure(reason: String(cString: strerror(errno))) }
    }

    static func removeFile(_ path: String) {
        unlink(path)
    }

    /// The folder part of a path, "." for a bare file name.
    private static func directory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }

    private static func message(of error: codec_error) -> String {
        withUnsafeBytes(of: error.message) { bytes in
            String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
        }
    }
}
