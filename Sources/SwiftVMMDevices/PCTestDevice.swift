import SwiftVMMSupport

/// QEMU's `pc-testdev` (hw/misc/pc-testdev.c), the ISA device kvm-unit-tests drives
/// (`-device pc-testdev`). Its registers, as QEMU places them:
///
/// - ports 0xE0–0xE3 and 0xE8–0xEB: one 32-bit scratch register; an access of n bytes at
///   port p reads or writes bytes p & 3 … p & 3 + n − 1 of it (realmode.flat checks its
///   `in`/`out` emulation with it);
/// - port 0xE4: a 4-byte write of a guest-physical address makes the host forget its
///   mapping of that page, so the guest's next access faults into KVM again (eventinj.flat);
/// - ports 0x2000–0x2017: a byte write of v sets interrupt line n (port 0x2000 + n) to
///   v ≠ 0 and holds it there (ioapic.flat's edge and level tests, realmode's IRQ 11); a
///   wider write is byte writes to successive lines, as QEMU's memory core splits it
///   (realmode's `outl` to 0x200B also sets lines 12–14 to its upper bytes);
/// - MMIO 0xFF00_0000–0xFF00_FFFF: 64 KiB of scratch memory behind MMIO exits.
///
/// Ports 0xE8–0xEB overlap the Bochs debug console at 0xE9, so a machine with this device
/// has no console there (in QEMU, `isa-debugcon` is opt-in too).
public final class PCTestDevice: Sendable {
    /// The device's port ranges and MMIO window (QEMU `testdev_realizefn`).
    public enum Address {
        public static let scratch: UInt16 = 0xE0
        public static let flushPage: UInt16 = 0xE4
        public static let scratchByteWise: UInt16 = 0xE8
        public static let interruptLines: UInt16 = 0x2000
        public static let memory: UInt64 = 0xFF00_0000
    }

    /// Lines 0–15 are the ISA IRQs; QEMU's region is 24 ports wide, and lines 16–23 are
    /// taken here as the I/O APIC's GSIs 16–23.
    public static let lineCount = 24
    public static let memorySize = 0x1_0000

    /// The scratch register at 0xE0 and 0xE8.
    public var scratch: PortDevice { scratchRegister }
    /// The flush-page register at 0xE4.
    public let flushPage: PortDevice
    /// The interrupt lines at 0x2000.
    public let interruptLines: PortDevice
    /// The 64 KiB window at 0xFF00_0000.
    public var memory: MMIODevice { scratchMemory }
    /// The two parts that hold state, by their own types for `snapshot()` and `restore(_:)`.
    let scratchRegister = ScratchRegister()
    let scratchMemory = ScratchMemory()

    /// `lines` holds `lineCount` lines; `forgetPage` drops the host's mapping of the
    /// guest-physical page holding an address.
    public init(lines: [any InterruptLine], forgetPage: @escaping @Sendable (UInt64) -> Void) {
        precondition(lines.count == Self.lineCount, "pc-testdev has \(Self.lineCount) interrupt lines")
        flushPage = FlushPageRegister(forgetPage: forgetPage)
        interruptLines = InterruptLinePorts(lines: lines)
    }
}

/// QEMU's `test_ioport_read`/`write`: `size` bytes at byte `offset & 3` of one register.
final class ScratchRegister: PortDevice {
    let value = AnnotatedMutex<UInt32>(0)

    private static func field(offset: UInt16, size: Int) -> (shift: UInt32, mask: UInt32) {
        let shift = UInt32(offset & 3) * 8
        return (shift, (UInt32.max >> (32 - UInt32(size) * 8)) << shift)
    }

    func read(offset: UInt16, size: Int) -> UInt32 {
        let (shift, mask) = Self.field(offset: offset, size: size)
        return value.withLock { ($0 & mask) >> shift }
    }

    func write(offset: UInt16, size: Int, value written: UInt32) {
        let (shift, mask) = Self.field(offset: offset, size: size)
        value.withLock { $0 = $0 & ~mask | (written << shift) & mask }
    }
}

/// A 4-byte write names a guest-physical page; other sizes are ignored (QEMU accepts only 4).
private final class FlushPageRegister: PortDevice {
    private let forgetPage: @Sendable (UInt64) -> Void
    init(forgetPage: @escaping @Sendable (UInt64) -> Void) { self.forgetPage = forgetPage }

    func read(offset: UInt16, size: Int) -> UInt32 { 0xFFFF_FFFF }   // write-only: the bus floats

    func write(offset: UInt16, size: Int, value: UInt32) {
        if offset == 0, size == 4 { forgetPage(UInt64(value)) }
    }
}

/// One port per line; each byte written sets a line's level. QEMU's region takes byte
/// accesses only (`valid.max_access_size = 1`), so its memory core splits a wider write
/// into byte writes at successive ports.
private final class InterruptLinePorts: PortDevice {
    private let lines: [any InterruptLine]
    init(lines: [any InterruptLine]) { self.lines = lines }

    func read(offset: UInt16, size: Int) -> UInt32 { 0xFFFF_FFFF }   // write-only

    func write(offset: UInt16, size: Int, value: UInt32) {
        for byte in 0..<size where Int(offset) + byte < lines.count {
            lines[Int(offset) + byte].set(value >> (8 * UInt32(byte)) & 0xFF != 0)
        }
    }
}

/// 64 KiB read and written little-endian at any offset; bytes past the end read as 0 and
/// are not written (QEMU copies past its buffer there).
final class ScratchMemory: MMIODevice {
    let bytes = AnnotatedMutex([UInt8](repeating: 0, count: PCTestDevice.memorySize))

    func read(offset: UInt64, size: Int) -> UInt64 {
        bytes.withLock { bytes in
            (0..<UInt64(size)).reversed().reduce(UInt64(0)) { value, i in
                let at = offset + i
                return value << 8 | (at < UInt64(bytes.count) ? UInt64(bytes[Int(at)]) : 0)
            }
        }
    }

    func write(offset: UInt64, size: Int, value: UInt64) {
        bytes.withLock { bytes in
            for i in 0..<UInt64(size) where offset + i < UInt64(bytes.count) {
                bytes[Int(offset + i)] = UInt8(truncatingIfNeeded: value >> (8 * i))
            }
        }
    }
}
