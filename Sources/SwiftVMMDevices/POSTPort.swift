/// The POST diagnostic port 0x80: firmware writes progress codes there and Linux writes
/// to it as an I/O delay. Writes are dropped without a trace (not even the debug log of
/// unhandled ports); reads return 0xFF, as QEMU's ioport80 does.
public final class POSTPort: PortDevice {
    public init() {}
    public func read(offset: UInt16, size: Int) -> UInt32 { size == 4 ? 0xFFFF_FFFF : (1 << (8 * UInt32(size))) - 1 }
    public func write(offset: UInt16, size: Int, value: UInt32) {}
}
