import Foundation

/// Reading and writing PNG and JPEG files.
public enum ImageIO {
    /// Reads a PNG or JPEG file, recognised by its first bytes whatever its name.
    ///
    /// PNG: 1- to 16-bit, grey, palette, RGB, with or without alpha, interlaced or not; 16-bit
    /// values keep their precision (v / 257). An alpha channel (or a tRNS transparent colour) is
    /// composited over white, so transparent areas come out white as most viewers show them.
    /// JPEG: grey and colour; CMYK is refused. Grey images are copied to all three channels.
    /// EXIF orientation and colour profiles are ignored.
    ///
    /// - Parameter maxPixels: images with more pixels than this are refused from the header,
    ///   before any memory is allocated for them.
    /// - Throws: `ImageError`.
    public static func read(_ path: String, maxPixels: Int = 50_000_000) throws -> Image {
        precondition(maxPixels > 0, "maxPixels must be positive")
        return Image(try Codecs.decode(path, maxPixels: maxPixels))
    }

    /// Writes the image clamped to 0...255 and rounded to 8 bits, as PNG or JPEG by the path's
    /// extension (.png, .jpg, .jpeg, in any case).
    ///
    /// The file is written under a temporary name in the same directory and renamed over `path`
    /// only once complete, so a failure never leaves a half-written or damaged output; an existing
    /// file at `path` is kept until the new one is whole.
    ///
    /// PNG is 8-bit RGB. JPEG is baseline with libjpeg's default 4:2:0 chroma subsampling.
    ///
    /// - Parameter quality: JPEG quality, 1...100 (values outside are clamped); ignored for PNG.
    /// - Throws: `ImageError`.
    public static func write(_ image: Image, to path: String, quality: Int = 95) throws {
        guard let format = ImageFileFormat(forPath: path) else { throw ImageError.unsupportedExtension(path: path) }
        guard image.width > 0 && image.height > 0 else { throw ImageError.zeroSize(path: path) }

        let temporaryPath = temporarySibling(of: path)
        do {
            try Codecs.encode(
                image.interleavedBytes(), width: image.width, height: image.height, as: format,
                quality: min(max(quality, 1), 100), toNewFile: temporaryPath)
        } catch {
            throw ImageError.cannotWrite(path: path, reason: error.reason)
        }
        do {
            try Codecs.rename(temporaryPath, to: path)
        } catch {
            Codecs.removeFile(temporaryPath)
            throw ImageError.cannotWrite(path: path, reason: error.reason)
        }
    }

    /// Throws the error `write` would throw for a bad extension or an unwritable place, without writing
    /// anything: long jobs call it first, so that they fail in a second rather than after their work.
    public static func checkWritable(_ path: String) throws {
        guard ImageFileFormat(forPath: path) != nil else { throw ImageError.unsupportedExtension(path: path) }
        if let reason = whyUnwritable(path) { throw ImageError.cannotWrite(path: path, reason: reason) }
    }

    /// Why no file can be made at `path` (its directory missing or not writable), found by making and removing a
    /// hidden probe file beside it; nil when one can. For any file: images, models, checkpoints, logs.
    public static func whyUnwritable(_ path: String) -> String? {
        let probe = temporarySibling(of: path)
        guard FileManager.default.createFile(atPath: probe, contents: Data()) else {
            let directory = (path as NSString).deletingLastPathComponent
            var isDirectory: ObjCBool = false
            let exists = FileManager.default.fileExists(atPath: directory.isEmpty ? "." : directory, isDirectory: &isDirectory)
            return exists && isDirectory.boolValue ? "the directory is not writable" : "the directory '\(directory)' does not exist"
        }
        Codecs.removeFile(probe)
        return nil
    }

    /// A hidden name beside `path`: the same directory, hence the same file system, which rename
    /// needs. The random part keeps two writers of the same output from sharing a temporary file.
    static func temporarySibling(of path: String) -> String {
        let nameStart = path.lastIndex(of: "/").map { path.index(after: $0) } ?? path.startIndex
        let tag = String(UInt64.random(in: 0...UInt64.max), radix: 16)
        return path[..<nameStart] + "." + path[nameStart...] + "." + tag + ".tmp"
    }
}

enum ImageFileFormat {
    case png
    case jpeg

    init?(forPath path: String) {
        let name = path.split(separator: "/", omittingEmptySubsequences: false).last ?? ""
        guard let dot = name.lastIndex(of: ".") else { return nil }
        switch name[name.index(after: dot)...].lowercased() {
        case "png": self = .png
        case "jpg", "jpeg": self = .jpeg
        default: return nil
        }
    }
}

extension Image {
    /// The decoder's samples as an RGB image on the 0...255 scale: grey is copied to all three
    /// channels, and alpha is composited over white.
    init(_ decoded: DecodedSamples) {
        let plane = decoded.width * decoded.height
        let channels = decoded.channels
        let hasAlpha = channels == 2 || channels == 4
        let isGrey = channels <= 2
        let toEightBitScale = 255 / Float(decoded.maximum)
        let samples = decoded.samples

        var pixels = [Float](repeating: 0, count: Image.channelCount * plane)
        for position in 0..<plane {
            let first = position * channels
            let opacity = hasAlpha ? Float(samples[first + channels - 1]) / Float(decoded.maximum) : 1
            for channel in 0..<Image.channelCount {
                let value = Float(samples[first + (isGrey ? 0 : channel)]) * toEightBitScale
                pixels[channel * plane + position] = hasAlpha ? value * opacity + 255 * (1 - opacity) : value
            }
        }
        self.init(width: decoded.width, height: decoded.height, pixels: pixels)
    }
}
