// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "SwiftVMM",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "SwiftVMM", targets: ["SwiftVMM"]),
        .library(name: "SwiftVMMHarness", targets: ["SwiftVMMHarness"]),
        .executable(name: "swiftvmm", targets: ["vmm-cli"]),
        .executable(name: "swiftvmm-test", targets: ["swiftvmm-test"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-system", from: "1.4.0"),
        // `swift package generate-documentation` for the DocC catalog in Sources/SwiftVMM.
        .package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.4.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "5.0.1"),
    ],
    targets: [
        // Thin C shim over <linux/kvm.h>: ioctl numbers, fixed-arity wrappers, kvm_run accessors.
        .target(name: "CKVM"),
        // The host thread calls Glibc does not show Swift: thread names, affinity, timer slack,
        // thread-directed POSIX timers (Machine/HostThread.swift, VCPUAlarm.swift).
        .target(name: "CHostThread"),
        // memfd_create and file seals, which Glibc does not show Swift, for the RAM images
        // forked machines map copy-on-write (SwiftVMMMemory/RAMImage.swift).
        .target(name: "CHostMemory"),
        // zlib, for gzip-compressed boot modules in a GRUB ISO (SwiftVMMBoot/GRUB/Gzip.swift).
        .systemLibrary(name: "CZlib", providers: [.apt(["zlib1g-dev"])]),
        // ThreadSanitizer's happens-before annotations, as weak symbols (AnnotatedMutex.swift).
        .target(name: "CSanitizerSupport"),
        // The library, one target per layer. Each layer depends only on the layers listed in
        // its dependencies, and the compiler holds it to that (README "Layout"):
        //   SwiftVMM (the machine) → Debug → KVM, Memory → Platform → Support
        //   SwiftVMM → Boot → Memory;  SwiftVMM → Devices → Platform
        // (chip models and loaders: no KVM, no machine)
        // Only SwiftVMMKVM imports CKVM. Layers share what they must through `package`
        // access, so the public API is what the `SwiftVMM` product re-exports.
        //
        // Formatting, the monotonic clock, byte buffers, the annotated mutex.
        .target(name: "SwiftVMMSupport", dependencies: ["CSanitizerSupport"]),
        // The PC's layout, ACPI tables, CMOS contents, MSR and CPUID policy.
        .target(
            name: "SwiftVMMPlatform",
            dependencies: ["SwiftVMMSupport", .product(name: "Logging", package: "swift-log")]
        ),
        // Guest RAM: the mapping and bounds-checked access to it, snapshot images and forks.
        .target(
            name: "SwiftVMMMemory",
            dependencies: ["CHostMemory", "SwiftVMMSupport", "SwiftVMMPlatform", .product(name: "SystemPackage", package: "swift-system")]
        ),
        // The /dev/kvm, VM and vCPU fds, and exits decoded from kvm_run.
        .target(
            name: "SwiftVMMKVM",
            dependencies: [
                "CKVM", "SwiftVMMSupport", "SwiftVMMPlatform",
                .product(name: "SystemPackage", package: "swift-system"),
            ]
        ),
        // Models of the chips (local APIC, I/O APIC, 8259, PIT, HPET, RTC, UART, …).
        .target(
            name: "SwiftVMMDevices",
            dependencies: [
                "SwiftVMMSupport", "SwiftVMMPlatform",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "SystemPackage", package: "swift-system"),
            ]
        ),
        // Kernel images: ELF, multiboot, GRUB ISOs and their scripts.
        .target(
            name: "SwiftVMMBoot",
            dependencies: [
                "CZlib", "SwiftVMMSupport", "SwiftVMMPlatform", "SwiftVMMMemory",
                .product(name: "SystemPackage", package: "swift-system"),
            ]
        ),
        // The gdb remote protocol, exit records, debug options.
        .target(
            name: "SwiftVMMDebug",
            dependencies: ["SwiftVMMSupport", "SwiftVMMPlatform", "SwiftVMMMemory", "SwiftVMMKVM"]
        ),
        // The machine (host threads, the run loop, the wiring of devices to vCPUs) and the
        // `SwiftVMM` product, which re-exports the layers below (SwiftVMM.swift).
        .target(
            name: "SwiftVMM",
            dependencies: [
                "CHostThread", "SwiftVMMSupport", "SwiftVMMPlatform", "SwiftVMMMemory", "SwiftVMMKVM",
                "SwiftVMMDevices", "SwiftVMMBoot", "SwiftVMMDebug",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "SystemPackage", package: "swift-system"),
            ]
        ),
        // The test-suite runner behind `swiftvmm test`: manifests, parallel runs, reports, JUnit XML.
        .target(
            name: "SwiftVMMHarness",
            dependencies: [
                "SwiftVMM",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "SystemPackage", package: "swift-system"),
                .product(name: "Yams", package: "Yams"),
            ]
        ),
        // The `swiftvmm` command: argument parsing and exit statuses only.
        .executableTarget(
            name: "vmm-cli",
            dependencies: [
                "SwiftVMM", "DemoGuest",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // `swiftvmm-test` (run as `swiftvmm test`): the manifest runner's command line. A
        // program of its own, not a dependency of vmm-cli, because a dependency's libraries
        // (Foundation, through the harness) would be linked into every `swiftvmm boot`.
        .executableTarget(
            name: "swiftvmm-test",
            dependencies: [
                "SwiftVMM", "SwiftVMMHarness",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "SystemPackage", package: "swift-system"),
            ]
        ),
        // The teaching example: a whole VMM in one page on SwiftVMM's KVM layer alone
        // (README "Examples"); the test suite builds it and boots the hello guest with it.
        .executableTarget(name: "MinimalVMM", dependencies: ["SwiftVMMKVM"], path: "Examples/MinimalVMM"),
        // bench/compare.sh's in-process fork timing (BENCHMARKS.md section 9).
        .executableTarget(
            name: "fork-bench",
            dependencies: [
                "SwiftVMM",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "bench/fork-bench"
        ),
        // Freestanding guest kernels from guests/, compiled with the toolchain's clang and
        // ld.lld and embedded as byte arrays by the GuestBuilder plugin.
        .target(name: "DemoGuest", plugins: ["GuestBuilder"]),
        .target(name: "TestGuests", path: "Tests/TestGuests", plugins: ["GuestBuilder"]),
        .executableTarget(name: "build-guest", path: "Sources/build-guest"),
        .plugin(name: "GuestBuilder", capability: .buildTool(), dependencies: ["build-guest"]),
        .testTarget(
            name: "SwiftVMMTests",
            dependencies: [
                "SwiftVMM", "SwiftVMMHarness", "TestGuests", "vmm-cli", "swiftvmm-test",
                "CKVM",   // RunLoop/ScriptedVCPU.swift builds kvm_run payloads
                "MinimalVMM",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "SystemPackage", package: "swift-system"),
            ]
        ),
    ]
)
