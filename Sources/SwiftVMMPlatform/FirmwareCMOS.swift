/// The CMOS bytes PC firmware fills in at power-on, which boot loaders and old kernels read
/// to size memory. Values as QEMU's `pc_cmos_init` writes them (IBM PC/AT Technical
/// Reference, CMOS map; 0x34/0x35 and 0x5B–0x5D are Bochs/QEMU extensions SeaBIOS reads).
package enum FirmwareCMOS {
    /// Writes those bytes into `cmos` (128 bytes, indexed by CMOS address). Not a dictionary
    /// of address to byte: its first use in a process makes the Swift runtime scan every
    /// conformance record for `Int: Hashable` (about 0.27 M instructions of every boot).
    package static func write(into cmos: inout [UInt8], ram: RAMLayout, cpus: Int) {
        let kiB: UInt64 = 1024, miB: UInt64 = 1 << 20
        func store16(_ value: UInt64, at low: Int) {
            let value = min(value, 0xFFFF)
            cmos[low] = UInt8(value & 0xFF)
            cmos[low + 1] = UInt8(value >> 8)
        }
        // 0x15/0x16: base memory in KiB (640).
        store16(min(ram.lowSize / kiB, 640), at: 0x15)
        // 0x17/0x18 and 0x30/0x31: extended memory above 1 MiB in KiB, at most 65535.
        let extended = ram.lowSize > miB ? (ram.lowSize - miB) / kiB : 0
        store16(extended, at: 0x17)
        store16(extended, at: 0x30)
        // 0x34/0x35: memory between 16 MiB and 4 GiB in 64 KiB units.
        store16(ram.lowSize > 16 * miB ? (ram.lowSize - 16 * miB) / (64 * kiB) : 0, at: 0x34)
        // 0x5B–0x5D: memory above 4 GiB in 64 KiB units.
        let high = ram.highSize / (64 * kiB)
        cmos[0x5B] = UInt8(truncatingIfNeeded: high)
        cmos[0x5C] = UInt8(truncatingIfNeeded: high >> 8)
        cmos[0x5D] = UInt8(truncatingIfNeeded: high >> 16)
        // 0x5F: CPUs - 1.
        cmos[0x5F] = UInt8(truncatingIfNeeded: cpus - 1)
    }
}
