// swift-tools-version:5.9
// Two devices, one local relay, with the AzmxSync Swift bindings.
// Run: examples/swift/two_devices.sh
import PackageDescription

let package = Package(
    name: "TwoDevices",
    dependencies: [.package(path: "../../../bindings/swift")],
    targets: [
        .executableTarget(
            name: "TwoDevices",
            dependencies: [.product(name: "AzmxSync", package: "swift")],
            path: "Sources/TwoDevices"
        ),
    ]
)
