import Synchronization

extension PIC8259Pair {
    /// Both chips whole (IRR, ISR, IMR, the ICWs, ELCR, the OCW2/OCW3 modes — special mask,
    /// rotation in automatic EOI, the lowest priority, a pending poll, the status read
    /// selected — the initialization step and the levels on the IR pins) and the INT level
    /// last sent to `output`: the `State` itself.
    package typealias Snapshot = State

    /// The device's whole state now (under its lock).
    package func snapshot() -> Snapshot {
        state.withLock { $0 }
    }

    /// Replaces this device's state with `snapshot` (a new device of the same machine layout,
    /// before it runs). Drives no interrupt line: the receiving controllers' snapshots
    /// already hold any edge or level this device sent. `hasInterrupt` is the INT level the
    /// snapshot records as sent, so the next change of INT is published as on the original.
    package func restore(_ snapshot: Snapshot) {
        state.withLock { state in
            state = snapshot
            intPin.store(snapshot.publishedOutput, ordering: .releasing)
        }
    }
}
