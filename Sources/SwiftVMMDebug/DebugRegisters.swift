/// DR7's per-slot fields (SDM Vol. 3B §18.2.4, Figure 18-1): L0–L3 enable bits, R/W0–3
/// (00 execution, 01 data writes, 11 data reads and writes) and LEN0–3 (00 one byte,
/// 01 two, 11 four, 10 eight).
package enum DebugRegisters {
    /// A slot's LEN:R/W nibble (shifted to bit 16 + 4 × slot by the caller); nil for
    /// lengths or alignments the hardware cannot watch.
    package static func fields(for breakpoint: Breakpoint) -> UInt64? {
        let readWrite: UInt64
        switch breakpoint.kind {
        case .hardware: return 0   // execution: R/W = 00, LEN = 00
        case .write: readWrite = 0b01
        case .access: readWrite = 0b11
        case .software, .read: return nil
        }
        let lengths: [Int: UInt64] = [1: 0b00, 2: 0b01, 4: 0b11, 8: 0b10]
        guard let length = lengths[breakpoint.length], breakpoint.address % UInt64(breakpoint.length) == 0 else { return nil }
        return length << 2 | readWrite
    }
}
