// SAFETY: callers pass a buffer live for the call: the vCPU's mapped kvm_run area (see
// `VCPUExit`), touched only by that vCPU's thread until the next KVM_RUN, or a test's own.
/// Port I/O and MMIO exit data as little-endian integers: the bytes in `kvm_run` that an
/// `in`/`out` or a memory access moves (the exit handler, the exit tracer, tests).
extension UnsafeMutableRawBufferPointer {
    /// The buffer's 1–8 bytes as a little-endian integer.
    @inlinable package func loadLittleEndian() -> UInt64 { loadLittleEndian(at: 0, size: Swift.min(count, 8)) }

    /// Stores the low `count` bytes (at most 8) of `value`, little-endian.
    @inlinable package func storeLittleEndian(_ value: UInt64) { storeLittleEndian(value, at: 0, size: Swift.min(count, 8)) }

    /// The `size` bytes (1–8) at `offset` as a little-endian integer (x86 is little-endian,
    /// so the common sizes are one unaligned load). Inlined, in other modules too: it is on
    /// every exit's path.
    @inlinable @inline(__always)
    package func loadLittleEndian(at offset: Int, size: Int) -> UInt64 {
        precondition(offset >= 0 && size <= 8 && offset + size <= count, "access outside the exit's data")
        // SAFETY: the precondition keeps offset..<offset + size inside the buffer; wider loads are
        // loadUnaligned, so the exit data's alignment does not matter.
        switch size {
        case 1: return UInt64(load(fromByteOffset: offset, as: UInt8.self))
        case 2: return UInt64(loadUnaligned(fromByteOffset: offset, as: UInt16.self))
        case 4: return UInt64(loadUnaligned(fromByteOffset: offset, as: UInt32.self))
        case 8: return loadUnaligned(fromByteOffset: offset, as: UInt64.self)
        default:
            var value: UInt64 = 0
            for i in 0..<size { value |= UInt64(self[offset + i]) << (8 * i) }
            return value
        }
    }

    /// Stores the low `size` bytes (1–8) of `value` at `offset`, little-endian.
    @inlinable @inline(__always)
    package func storeLittleEndian(_ value: UInt64, at offset: Int, size: Int) {
        precondition(offset >= 0 && size <= 8 && offset + size <= count, "access outside the exit's data")
        // SAFETY: the precondition keeps offset..<offset + size inside the buffer; storeBytes has
        // no alignment requirement (SE-0349), so unaligned exit data is fine.
        switch size {
        case 1: storeBytes(of: UInt8(truncatingIfNeeded: value), toByteOffset: offset, as: UInt8.self)
        case 2: storeBytes(of: UInt16(truncatingIfNeeded: value), toByteOffset: offset, as: UInt16.self)
        case 4: storeBytes(of: UInt32(truncatingIfNeeded: value), toByteOffset: offset, as: UInt32.self)
        case 8: storeBytes(of: value, toByteOffset: offset, as: UInt64.self)
        default:
            for i in 0..<size { self[offset + i] = UInt8(truncatingIfNeeded: value >> (8 * i)) }
        }
    }
}
