extension Serial16550 {
    /// The registers (IER, LCR, MCR, the divisor latch, SCR, FCR), the receive FIFO with
    /// the bytes the guest has not read, LSR.OE, the pending THRE interrupt, and the host
    /// bytes still waiting on the line for room in the FIFO: the `State` itself, less the
    /// line's bytes already moved into the FIFO (`lineHead` is 0 in a snapshot). Nothing
    /// transmitted is kept: each byte went to the sink when THR was written.
    package typealias Snapshot = State

    /// The device's whole state now (under its lock).
    package func snapshot() -> Snapshot {
        state.withLock { state in
            var snapshot = state
            snapshot.line = Array(state.line[state.lineHead...])
            snapshot.lineHead = 0
            return snapshot
        }
    }

    /// Replaces this device's state with `snapshot` (a new device of the same machine layout,
    /// before it runs). Drives no interrupt line: the receiving controller's snapshot already
    /// holds the IRQ level this device sent, and every register access sends it again. The
    /// sink is the new device's own.
    package func restore(_ snapshot: Snapshot) {
        state.withLock { $0 = snapshot }
    }
}
