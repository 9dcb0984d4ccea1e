/// QEMU's `isa-debug-exit` device: a write of v ends the run with host exit status
/// (v << 1) | 1, so guests written for QEMU run unchanged. Reads return 0.
public final class DebugExit: PortDevice {
    private let exit: @Sendable (UInt32) -> Void

    /// `exit` receives the value written.
    public init(exit: @escaping @Sendable (UInt32) -> Void) { self.exit = exit }

    public func read(offset: UInt16, size: Int) -> UInt32 { 0 }

    public func write(offset: UInt16, size: Int, value: UInt32) { exit(value) }
}
