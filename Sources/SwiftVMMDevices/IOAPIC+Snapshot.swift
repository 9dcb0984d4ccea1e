import Synchronization

extension IOAPIC {
    /// IOREGSEL, the ID, the 24 redirection entries with their Remote IRR bits, the levels
    /// on the input pins and the edge pins whose message awaits an EOI: the `State` itself.
    package typealias Snapshot = State

    /// The device's whole state now (under its lock).
    package func snapshot() -> Snapshot {
        state.withLock { $0 }
    }

    /// Replaces this device's state with `snapshot` (a new device of the same machine layout,
    /// before it runs). Drives no interrupt line: the local APICs' snapshots already hold
    /// every message this device sent, so a level pin with Remote IRR set waits for its EOI
    /// as on the original, and nothing is delivered now. `anyEdgeInFlight` is re-derived
    /// from the edge pins awaiting EOI.
    package func restore(_ snapshot: Snapshot) {
        state.withLock { state in
            state = snapshot
            anyEdgeInFlight.store(snapshot.edgesInFlight != 0, ordering: .relaxed)
        }
    }
}

extension IOAPIC.Snapshot {
    /// One redirection entry per pin (a snapshot read from a file is checked before it is restored).
    package var isWellFormed: Bool { redirection.count == IOAPIC.pinCount }
}
