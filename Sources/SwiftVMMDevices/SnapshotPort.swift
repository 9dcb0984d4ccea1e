/// SwiftVMM's snapshot port (no PC has one; at `Layout.snapshotPort`). A write of any
/// value asks for a snapshot where the guest stands: where the machine is set up to take
/// one (`boot --save` without `--snapshot-on`; `Machine.Configuration.snapshotOnPortWrite`)
/// every vCPU stops, the writer right after its OUT, until the snapshot is taken; elsewhere
/// the write does nothing. A read tells the guest where it runs on: 1 in a machine that
/// continues a snapshot (`swiftvmm restore`, a fork), 0 in one booted from scratch, so
///
///     outb(0x5F0, 0);
///     if (inb(0x5F0)) { /* a fork: run the test */ } else { /* the machine snapshotted */ }
public final class SnapshotPort: PortDevice {
    private let restored: Bool
    private let request: @Sendable () -> Void

    /// `restored`: the machine continues a snapshot. `request` runs on the writing vCPU's thread.
    public init(restored: Bool, request: @escaping @Sendable () -> Void) {
        self.restored = restored
        self.request = request
    }

    public func read(offset: UInt16, size: Int) -> UInt32 { restored ? 1 : 0 }

    public func write(offset: UInt16, size: Int, value: UInt32) { request() }
}
