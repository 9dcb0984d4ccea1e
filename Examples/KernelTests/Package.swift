// swift-tools-version:6.1
// A kernel project's test package: boots its kernel under SwiftVMM from Swift Testing.
import PackageDescription

let package = Package(
    name: "KernelTests",
    platforms: [.macOS(.v15)],
    dependencies: [.package(name: "SwiftVMM", path: "../..")],
    targets: [
        .testTarget(name: "KernelTests", dependencies: [.product(name: "SwiftVMM", package: "SwiftVMM")]),
    ]
)
