@testable import SwiftVMM
@testable import SwiftVMMBoot
@testable import SwiftVMMMemory
@testable import SwiftVMMPlatform

/// 16 MiB of guest RAM, mapped once and reused: a loader must refuse, never write outside it.
nonisolated(unsafe) let memory = try! GuestMemory(layout: RAMLayout(size: 16 << 20))

/// One input: a kernel file. The first byte picks the protocol to force (or detection), the
/// rest is the image; it is loaded with a command line, as `swiftvmm boot` would.
@_cdecl("LLVMFuzzerTestOneInput")
func fuzzLoaders(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size > 0 else { return 0 }
    let bytes = Array(UnsafeBufferPointer(start: data + 1, count: size - 1))
    let protocols: [BootProtocol?] = [nil] + BootProtocol.allCases
    let requested = protocols[Int(data[0]) % protocols.count]
    let image = KernelImage(path: "fuzz.elf", bytes: bytes)
    _ = try? BootLoader.boot(kernel: image, as: requested, commandLine: "console=ttyS0",
                             modules: [], rsdp: [UInt8](repeating: 0x52, count: 36), memory: memory)
    return 0
}
