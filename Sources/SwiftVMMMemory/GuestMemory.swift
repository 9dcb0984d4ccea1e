#if canImport(Glibc)
import Glibc
#endif
import SystemPackage
import SwiftVMMSupport
import SwiftVMMPlatform

/// Why a guest-memory access was refused.
public enum GuestMemoryError: Error, Equatable, CustomStringConvertible {
    case outOfBounds(address: UInt64, length: Int)
    case cannotMap(size: UInt64, Errno)
    case cannotCapture(Errno)
    /// A RAM image file cannot be written (`RAMImage.write(to:)`).
    case cannotSave(path: String, Errno)
    /// A RAM image file cannot be read, or is not the image of this RAM (`RAMImage(file:layout:)`).
    case cannotLoad(path: String, String)

    public var description: String {
        switch self {
        case .outOfBounds(let address, let length):
            "\(length) bytes at \(hex(address)) are not in guest RAM"
        case .cannotMap(let size, let errno):
            "cannot reserve \(size >> 20) MiB for guest RAM: \(errno)"
        case .cannotCapture(let errno):
            "cannot copy guest RAM into a snapshot image: \(errno)"
        case .cannotSave(let path, let errno):
            "cannot write the RAM image \(path): \(errno)"
        case .cannotLoad(let path, let reason):
            "cannot load the RAM image \(path): \(reason)"
        }
    }
}

/// The guest's RAM: one private host mapping, placed in guest-physical space by `RAMLayout`
/// (low part at 0, the rest from 4 GiB): anonymous, or a copy-on-write view of a
/// `RAMImage` (GuestMemory+Image.swift). Every access is bounds-checked; this type is the
/// only one that turns guest addresses into host pointers.
public final class GuestMemory: @unchecked Sendable {
    public let layout: RAMLayout
    /// Start of the host mapping; guest RAM is at fixed offsets in it (see `hostOffset`).
    let base: UnsafeMutableRawPointer
    /// The snapshot this memory was forked from, which its untouched pages still map.
    public let image: RAMImage?

    /// Reserves `layout.size` bytes. MAP_NORESERVE: untouched pages cost nothing, so a
    /// large guest only uses the host memory it actually writes.
    public convenience init(layout: RAMLayout) throws(GuestMemoryError) {
        let mapping = mmap(nil, Int(layout.size), PROT_READ | PROT_WRITE,
                           MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0)
        guard let mapping, mapping != MAP_FAILED else {
            throw .cannotMap(size: layout.size, Errno(rawValue: errno))
        }
        self.init(layout: layout, mapping: mapping, image: nil)
    }

    /// Takes ownership of `mapping`, `layout.size` bytes mapped read-write.
    init(layout: RAMLayout, mapping: UnsafeMutableRawPointer, image: RAMImage?) {
        self.layout = layout
        self.base = mapping
        self.image = image
    }

    deinit { munmap(base, Int(layout.size)) }

    /// The host mapping of each RAM range, for KVM memory slots.
    package var slots: [(guestAddress: UInt64, size: UInt64, host: UnsafeMutableRawPointer)] {
        var offset = 0
        return layout.ranges.map { range in
            defer { offset += Int(range.count) }
            return (range.lowerBound, UInt64(range.count), base + offset)
        }
    }

    /// Offset into the host mapping of `length` bytes at `address`, if all of them are RAM.
    private func hostOffset(_ address: UInt64, _ length: Int) -> Int? {
        let (end, overflow) = address.addingReportingOverflow(UInt64(length))
        guard !overflow else { return nil }
        if end <= layout.lowSize { return Int(address) }
        if address >= Layout.highRAMStart, end - Layout.highRAMStart <= layout.highSize {
            return Int(layout.lowSize + (address - Layout.highRAMStart))
        }
        return nil
    }

    /// Whether all of `range` is guest RAM.
    public func contains(_ range: Range<UInt64>) -> Bool {
        // Not `range.count`: a range from a kernel's headers can be longer than Int.max,
        // and counting it would trap (found by FuzzLoaders).
        let length = range.upperBound - range.lowerBound
        return length <= UInt64(Int.max) && hostOffset(range.lowerBound, Int(length)) != nil
    }

    /// Raw view of `length` bytes of guest RAM at `address`.
    private func bytes(_ address: UInt64, _ length: Int) throws(GuestMemoryError) -> UnsafeMutableRawBufferPointer {
        guard length >= 0, let offset = hostOffset(address, length) else {
            throw .outOfBounds(address: address, length: length)
        }
        // SAFETY: hostOffset checked that [offset, offset + length) lies inside the mapping.
        return UnsafeMutableRawBufferPointer(start: base + offset, count: length)
    }

    public func write(_ data: some Collection<UInt8>, at address: UInt64) throws(GuestMemoryError) {
        let target = try bytes(address, data.count)
        // Contiguous data (an array, a slice of one) is one memcpy. Called from another module
        // this generic method runs unspecialized, and `copyBytes(from:)` would go byte by
        // byte through the collection's witnesses: 15 instructions a byte, 0.43 M for the
        // 28 KiB hello kernel, 30 M for a 2 MiB one.
        let copied: Void? = data.withContiguousStorageIfAvailable { source in
            // SAFETY: `target` was bounds-checked by bytes() for exactly `data.count` bytes, the
            // count of `source`; both pointers live only for this call.
            target.copyMemory(from: UnsafeRawBufferPointer(source))
        }
        if copied == nil { target.copyBytes(from: data) }
    }

    /// Zeroes `count` bytes at `address`. Whole pages are handed back to the kernel, so
    /// zeroing a large BSS costs no host memory: MADV_DONTNEED on a private anonymous
    /// mapping reads back as zeros. On a fork it would read back as the image's pages
    /// (madvise(2)), so there the pages are mapped anew, anonymous.
    public func zero(count: Int, at address: UInt64) throws(GuestMemoryError) {
        let region = try bytes(address, count)
        guard let start = region.baseAddress else { return }
        let page = 4096
        let first = (Int(bitPattern: start) + page - 1) & ~(page - 1)
        let last = (Int(bitPattern: start) + count) & ~(page - 1)
        guard last > first else {
            region.initializeMemory(as: UInt8.self, repeating: 0)
            return
        }
        // SAFETY: [first, last) is inside `region`, which bytes() bounds-checked.
        let head = first - Int(bitPattern: start)
        UnsafeMutableRawBufferPointer(rebasing: region[..<head]).initializeMemory(as: UInt8.self, repeating: 0)
        UnsafeMutableRawBufferPointer(rebasing: region[(last - Int(bitPattern: start))...]).initializeMemory(as: UInt8.self, repeating: 0)
        if image == nil {
            madvise(UnsafeMutableRawPointer(bitPattern: first), last - first, MADV_DONTNEED)
        } else {
            // SAFETY: MAP_FIXED replaces only [first, last), pages of this memory's own mapping.
            let fresh = mmap(UnsafeMutableRawPointer(bitPattern: first), last - first, PROT_READ | PROT_WRITE,
                             MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0)
            if fresh == MAP_FAILED {
                UnsafeMutableRawBufferPointer(rebasing: region[head..<(last - Int(bitPattern: start))])
                    .initializeMemory(as: UInt8.self, repeating: 0)
            }
        }
    }

    /// Makes the host forget its page-table entry for the 4 KiB page holding `address`
    /// (QEMU pc-testdev's flush-page register): protecting the page and unprotecting it
    /// again makes KVM drop its mapping (through the MMU notifier), so the guest's next
    /// access to the page exits into KVM to map it again. Contents stay. Not RAM: nothing.
    public func forgetHostMapping(ofPageAt address: UInt64) {
        let page: UInt64 = 4096
        guard let region = try? bytes(address & ~(page - 1), Int(page)), let start = region.baseAddress else { return }
        // SAFETY: bytes() checked that the whole page lies inside the mapping, which
        // init mapped read-write; it is mapped read-write again before returning.
        mprotect(start, Int(page), PROT_NONE)
        mprotect(start, Int(page), PROT_READ | PROT_WRITE)
    }

    public func read(at address: UInt64, count: Int) throws(GuestMemoryError) -> [UInt8] {
        Array(try bytes(address, count))
    }

    /// Little-endian integer at `address` (x86 byte order).
    public func read<T: FixedWidthInteger>(_: T.Type = T.self, at address: UInt64) throws(GuestMemoryError) -> T {
        T(littleEndian: try bytes(address, MemoryLayout<T>.size).loadUnaligned(as: T.self))
    }

    /// Writes `value` little-endian at `address`.
    public func write<T: FixedWidthInteger>(_ value: T, at address: UInt64) throws(GuestMemoryError) {
        try bytes(address, MemoryLayout<T>.size).storeBytes(of: value.littleEndian, as: T.self)
    }
}
