extension ResetControl {
    /// The register's value as it reads back (bits 3:1; bit 2 resets as it is written).
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
