// swift-tools-version:5.9
// Seal a snippet with the AzmxSync Swift bindings. Run: examples/swift/run.sh
import PackageDescription

let package = Package(
    name: "SealSnippet",
    dependencies: [.package(path: "../../../bindings/swift")],
    targets: [
        .executableTarget(
            name: "SealSnippet",
            dependencies: [.product(name: "AzmxSync", package: "swift")],
            path: "Sources/SealSnippet"
        ),
    ]
)
