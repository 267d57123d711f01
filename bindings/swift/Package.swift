// swift-tools-version:5.9
//
// AzmxSync: Swift bindings of libazmx_sync (uniffi 0.32.2, generated).
//
//   Sources/AzmxSync/AzmxSync.swift       generated Swift API (module AzmxSync)
//   Sources/AzmxSyncFFI/                  generated C header + module map (module AzmxSyncFFI)
//   Tests/AzmxSyncSelfTest/main.swift     tests (an executable: no XCTest needed)
//
// Linux / development: AzmxSyncFFI is a system-library target that links
// `libazmx_sync` from the linker search path:
//   cargo build -p azmx-sync-ffi
//   swift build -Xlinker -L../../target/debug
//   LD_LIBRARY_PATH=../../target/debug swift run -Xlinker -L../../target/debug AzmxSyncSelfTest
//
// Apple platforms: `./build-xcframework.sh` (on macOS) builds
// AzmxSyncFFI.xcframework (static libraries for iOS, the iOS simulator and
// macOS, with this header and module map); when it exists this manifest uses
// it as a binary target instead.
//
// The generated sources are committed; scripts/test.d/60-swift.sh
// regenerates them and fails when they differ from the library.
import Foundation
import PackageDescription

let packageDir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().path
let xcframework = "AzmxSyncFFI.xcframework"
let useXCFramework = FileManager.default.fileExists(atPath: packageDir + "/" + xcframework)

let ffiTarget: Target = useXCFramework
    ? .binaryTarget(name: "AzmxSyncFFI", path: xcframework)
    : .systemLibrary(name: "AzmxSyncFFI", path: "Sources/AzmxSyncFFI")

let package = Package(
    name: "AzmxSync",
    platforms: [.macOS(.v12), .iOS(.v15)],
    products: [
        .library(name: "AzmxSync", targets: ["AzmxSync"]),
    ],
    targets: [
        ffiTarget,
        .target(
            name: "AzmxSync",
            dependencies: ["AzmxSyncFFI"],
            path: "Sources/AzmxSync"
        ),
        .executableTarget(
            name: "AzmxSyncSelfTest",
            dependencies: ["AzmxSync"],
            path: "Tests/AzmxSyncSelfTest"
        ),
    ]
)
