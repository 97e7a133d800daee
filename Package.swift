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
        // `stylize serve` only: the HTTP server, its multipart uploads, and the job store.
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/vapor/multipart-kit", from: "4.7.1"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
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
        // The web app and its HTTP API: a thin front end over the library, in its own target so that the library
        // stays free of server code. The page is compiled into the binary (no files to install beside it).
        .target(
            name: "StylizeServer",
            dependencies: [
                "Stylize",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "MultipartKit", package: "multipart-kit"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
            ],
            resources: [.embedInCode("Page/index.html"), .embedInCode("Page/app.js"), .embedInCode("Page/style.css")]
        ),
        .executableTarget(
            name: "stylize",
            dependencies: ["Stylize", "StylizeServer", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
        .executableTarget(
            name: "stylize-bench",
            dependencies: ["Stylize", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
        .testTarget(name: "StylizeTests", dependencies: ["Stylize", "StylizeServer"]),
    ]
)
