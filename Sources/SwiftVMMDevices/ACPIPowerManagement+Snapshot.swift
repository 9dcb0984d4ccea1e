extension ACPIPowerManagement {
    /// PM1 status and PM1 enable (ACPI 6.5 §4.8.3.1). PM1 control keeps nothing: SCI_EN
    /// reads 1 and a write with SLP_EN acts at once.
    package struct Snapshot: Sendable, Equatable, Codable {
        var status: UInt16
        var enable: UInt16
    }

    /// The device's whole state now (under its lock).
    package func snapshot() -> Snapshot {
        events.withLock { Snapshot(status: $0.status, enable: $0.enable) }
    }

    /// Replaces this device's state with `snapshot` (a new device of the same machine layout,
    /// before it runs). Neither powers off nor suspends.
    package func restore(_ snapshot: Snapshot) {
        events.withLock { $0 = (snapshot.status, snapshot.enable) }
    }
}
