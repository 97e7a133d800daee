import Foundation

/// Training images for a feed-forward network: random square crops of the photos in a folder, each photo resized
/// first (`Preparation`), then cropped at a random place and flipped or turned (`Augmentation`).
/// A step's crops depend only on the seed and the step's number, so a resumed run sees the same batches.
public final class PhotoCrops {
    /// What is done to each crop at random, so that the network sees more than the photos hold.
    public enum Augmentation: String, Sendable, Codable, CaseIterable {
        /// Mirrored left-right half of the time: the world seen in a mirror is still the world (style networks,
        /// whose brush strokes have a direction, and what the shipped upscalers trained with).
        case mirror
        /// Any of the square's eight symmetries (mirrors and quarter turns, as EDSR trains): eight times the
        /// crops, for networks whose task looks the same upside down, such as upscaling.
        case dihedral
    }

    public enum Preparation: Sendable {
        /// Resized so that the short side is the crop size: a crop holds most of the photo (style networks).
        case fitShortSide
        /// Halved (antialiased bicubic): JPEG photos' compression artifacts shrink below a pixel, which makes them
        /// ground truth for super-resolution.
        case halved
    }

    public private(set) var paths: [String]
    public let size: Int
    public let preparation: Preparation
    public let augmentation: Augmentation
    /// Photos already decoded and resized; the whole set of ~360 photos at 256 px fits in a few hundred MB.
    private var resized: [Int: Image] = [:]

    public static let extensions: Set<String> = ["jpg", "jpeg", "png"]

    /// - Parameter directory: searched recursively for .jpg, .jpeg and .png files.
    public init(directory: String, size: Int, preparation: Preparation = .fitShortSide,
                augmentation: Augmentation = .mirror) throws {
        paths = try Self.photos(in: directory)
        self.size = size
        self.preparation = preparation
        self.augmentation = augmentation
    }

    /// The .jpg, .jpeg and .png files below `directory` (searched recursively), sorted; at least one.
    public static func photos(in directory: String) throws -> [String] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory) else {
            throw InvalidInput("photos", "\(directory): there is no such folder")
        }
        guard isDirectory.boolValue else { throw InvalidInput("photos", "\(directory) is a file; give the folder that holds the photos") }
        let files = FileManager.default.enumerator(at: URL(fileURLWithPath: directory), includingPropertiesForKeys: nil)?
            .compactMap { $0 as? URL }
            .filter { extensions.contains($0.pathExtension.lowercased()) }
            .map(\.path)
            .sorted() ?? []
        guard !files.isEmpty else {
            throw InvalidInput("photos", "has no .jpg or .png photos: \(directory)")
        }
        return files
    }

    /// Reads and prepares every photo now rather than when a step first samples it (minutes into a run), and drops
    /// the ones that cannot be used (unreadable, or too small for the crops). Returns them with why; throws when
    /// none is left.
    @discardableResult
    public func checkEvery() throws -> [(path: String, reason: String)] {
        var usable: [String] = [], skipped: [(path: String, reason: String)] = []
        var prepared: [Int: Image] = [:]
        for (index, path) in paths.enumerated() {
            do {
                prepared[usable.count] = try photo(index)
                usable.append(path)
            } catch {
                skipped.append((path, "\(error)"))
            }
        }
        guard !usable.isEmpty else {
            throw InvalidInput("photos", "has no usable photo: \(skipped.prefix(3).map(\.reason).joined(separator: "; "))")
        }
        (paths, resized) = (usable, prepared)
        return skipped
    }

    /// The crops of one step, RGB 0...255 [3, size, size] each.
    public func batch(step: Int, count: Int, seed: UInt64) throws -> [Tensor] {
        var random = SeededGenerator(seed: seed ^ (UInt64(step) &* 0xD1B5_4A32_D192_ED03))
        return try (0..<count).map { _ in
            let photo = try self.photo(Int(random.next() % UInt64(paths.count)))
            let x = Int(random.next() % UInt64(photo.width - size + 1))
            let y = Int(random.next() % UInt64(photo.height - size + 1))
            let mirrored = random.next() & 1 == 1
            // Drawn only for dihedral, so that mirror-only runs keep the batches they always had.
            let symmetry = augmentation == .dihedral ? random.next() : 0
            let crop = photo.cropped(top: y, left: x, height: size, width: size)
                .transformed(by: Symmetry(transposed: symmetry & 2 == 2, upsideDown: symmetry & 1 == 1, mirrored: mirrored))
            return crop.tensor
        }
    }

    private func photo(_ index: Int) throws -> Image {
        if let image = resized[index] { return image }
        let image: Image
        do {
            image = try ImageIO.read(paths[index])
        } catch {
            throw InvalidInput("cannot read the photo \(paths[index]): \(error)")
        }
        // A thumbnail blown up to the crop size teaches nothing but blur.
        guard min(image.width, image.height) >= 32 else {
            throw InvalidInput("the photo \(paths[index]) is \(image.width)x\(image.height), too small to train on (short side under 32 px)")
        }
        // A photo many times longer than wide would be resized to a strip of millions of pixels for a few crops.
        guard max(image.width, image.height) <= 8 * min(image.width, image.height) else {
            throw InvalidInput("the photo \(paths[index]) is \(image.width)x\(image.height), too narrow for square crops")
        }
        let scale = Double(size) / Double(min(image.width, image.height))
        let result = preparation == .halved ? image.halved()
            : image.resized(width: max(size, Int((Double(image.width) * scale).rounded())),
                            height: max(size, Int((Double(image.height) * scale).rounded())))
        guard min(result.width, result.height) >= size else {
            throw InvalidInput("the photo \(paths[index]) is \(image.width)x\(image.height), too small for \(size) px crops")
        }
        resized[index] = result
        return result
    }
}
