// swift-tools-version:6.1
// libFuzzer targets for SwiftVMM, built beside the normal build (scripts/fuzz.sh):
//   swift build --package-path Fuzz -Xswiftc -sanitize=fuzzer,address
// Each target's main hands its input function to libFuzzer's driver; the targets reach
// SwiftVMM's internals through `@testable import` (debug builds enable testing).
import PackageDescription

let package = Package(
    name: "SwiftVMMFuzz",
    platforms: [.macOS(.v15)],
    dependencies: [.package(name: "SwiftVMM", path: "..")],
    targets: [
        // Kernel images: protocol detection, ELF and multiboot headers, loading, boot information.
        .target(name: "CFuzzer"),
        .executableTarget(name: "FuzzLoaders", dependencies: ["CFuzzer", .product(name: "SwiftVMM", package: "SwiftVMM")]),
        // Every device's port and MMIO handlers, timers and interrupt lines, driven by a byte program.
        .executableTarget(name: "FuzzDevices", dependencies: ["CFuzzer", .product(name: "SwiftVMM", package: "SwiftVMM")]),
        // GRUB discs: ISO 9660 with Rock Ridge and Joliet names, grub.cfg, gzip modules.
        .executableTarget(name: "FuzzGRUBDisc", dependencies: ["CFuzzer", .product(name: "SwiftVMM", package: "SwiftVMM")]),
    ]
)
