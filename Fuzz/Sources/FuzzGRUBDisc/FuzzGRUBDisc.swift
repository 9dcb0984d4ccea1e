@testable import SwiftVMM
@testable import SwiftVMMBoot

/// One input: the first byte picks what the rest is. Even: a disc image, read as `swiftvmm
/// boot DISC` reads it (volume descriptors, directories, Rock Ridge/Joliet names, grub.cfg,
/// kernel and modules, gzip). Odd: a grub.cfg, lexed and run to its boot entry.
@_cdecl("LLVMFuzzerTestOneInput")
func fuzzGRUBDisc(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size > 0 else { return 0 }
    let bytes = Array(UnsafeBufferPointer(start: data + 1, count: size - 1))
    if data[0] % 2 == 0 {
        _ = try? GRUBDisc.payload(source: MemoryImageSource(bytes: bytes), name: "fuzz.iso", limit: 16 << 20)
    } else {
        _ = try? GRUBMenu(GRUBScript(String(decoding: bytes, as: UTF8.self))).bootEntry()
    }
    return 0
}
