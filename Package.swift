// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "stylize",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "stylize", targets: ["stylize"]),
        .library(name: "Stylize", targets: ["Stylize"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.0.0"),
        .package(url: "https://github.com/weichsel/ZIPFoundation", from: "0.9.19"),
    ],
    targets: [
        // oneDNN's C API. Debian ships no pkg-config file for it, so the module map links `dnnl` by name.
        .systemLibrary(name: "CDNNL", path: "Sources/CDNNL"),
        // libpng and libjpeg-turbo, for reading and writing images. A C target rather than a module map,
        // because both libraries report errors by longjmp, which has to be caught on the C side.
        .target(
            name: "CImageCodecs",
            path: "Sources/CImageCodecs",
            linkerSettings: [.linkedLibrary("png16"), .linkedLibrary("jpeg")]
        ),
        .target(
            name: "Stylize",
            dependencies: [
                "CDNNL", "CImageCodecs",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "ZIPFoundation", package: "ZIPFoundation"),
            ]
        ),
        .executableTarget(
            name: "stylize",
            dependencies: ["Stylize", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
        .executableTarget(
            name: "stylize-bench",
            dependencies: ["Stylize", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
        .testTarget(name: "StylizeTests", dependencies: ["Stylize"]),
    ]
)
