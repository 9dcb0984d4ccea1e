extension FirmwareConfig {
    /// What the guest drove: the selected key, the offset into its item and the high half
    /// of the DMA address (port 0x514): the `State` itself. The items are not kept: the
    /// restored device is built from the same configuration, so it serves the same ones.
    /// A DMA transfer runs to its end in the write that starts it, so none is in flight.
    package typealias Snapshot = State

    /// The device's whole state now (under its lock).
    package func snapshot() -> Snapshot {
        state.withLock { $0 }
    }

    /// Replaces this device's state with `snapshot` (a new device of the same machine layout
    /// and configuration, before it runs). Drives no interrupt line (the device has none).
    package func restore(_ snapshot: Snapshot) {
        state.withLock { $0 = snapshot }
    }
}
