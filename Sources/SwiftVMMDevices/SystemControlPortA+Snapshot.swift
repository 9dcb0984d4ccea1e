extension SystemControlPortA {
    /// Port 0x92 as last written (A20 aside, which always reads 1), including bit 0, so a
    /// write that sets it again is no new rising edge and resets nothing, as on the original.
    package struct Snapshot: Sendable, Equatable, Codable {
        var register: UInt8
    }

    /// The device's whole state now (under its lock).
    package func snapshot() -> Snapshot {
        Snapshot(register: register.withLock { $0 })
    }

    /// Replaces this device's state with `snapshot` (a new device of the same machine layout,
    /// before it runs). Resets nothing.
    package func restore(_ snapshot: Snapshot) {
        register.withLock { $0 = snapshot.register }
    }
}
