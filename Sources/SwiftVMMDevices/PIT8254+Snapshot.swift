/// The 8254's state for a machine snapshot (issue 22).
extension PIT8254 {
    /// The whole `State`: each counter's registers (CR, OL, status latch, control word, the
    /// lo/hi byte toggles, GATE) and where its counting element's run began, port 0x61's
    /// writable bits, channel 0's next event, the IRQ0 pulses still owed and their
    /// statistics. Times are machine time, the DeviceTimer's clock: counting origins in
    /// input clock ticks on its fixed grid, channel 0's deadline in nanoseconds. Port 0x61's
    /// refresh toggle is not kept: it is machine time itself.
    package typealias Snapshot = State

    /// The device's whole state now (under its lock).
    package func snapshot() -> Snapshot {
        state.withLock { $0 }
    }

    /// Replaces this device's state with `snapshot` (a new device of the same machine layout,
    /// before or while it runs) and re-arms its timer for the deadline the snapshot holds.
    /// Drives no interrupt line: the interrupt controllers' snapshots already hold any edge or
    /// level this device sent.
    package func restore(_ snapshot: Snapshot) {
        state.withLock { $0 = snapshot }
        timer.arm(following: { state.withLock { $0.deadline } }, first: snapshot.deadline)
    }
}

extension PIT8254.Snapshot {
    /// The same state `nanoseconds` later in machine time, for a restore after a gap the host
    /// could not hide (the guest TSC kept running): every counter's run, a count pending for
    /// the end of its period, and channel 0's deadline move on by the whole input clocks in
    /// the gap, so each count keeps its remaining time and phase and no event of the gap is
    /// owed. Shifting by whole ticks keeps counts and the deadline exactly in step with each
    /// other; only the fraction of a tick left over (under 838 ns) is lost, so a counter may
    /// read one count further on than it did (none when the gap is a whole number of seconds,
    /// 1 193 182 ticks each). IRQ0 pulses already owed stay owed.
    package func advanced(by nanoseconds: UInt64) -> Self {
        let ticks = PIT8254.clock.ticks(in: nanoseconds)
        var state = self
        for index in state.counters.indices {
            state.counters[index].start = state.counters[index].start.map { $0 + ticks }
            state.counters[index].pending?.at += ticks
        }
        // The deadline is always the host time of an event tick (`nanoseconds(for:)`), which
        // `ticks(in:)` gives back exactly.
        state.deadline = state.deadline.map { PIT8254.clock.nanoseconds(for: PIT8254.clock.ticks(in: $0) + ticks) }
        return state
    }
}

extension PIT8254.Snapshot {
    /// Three counters (a snapshot read from a file is checked before it is restored).
    package var isWellFormed: Bool { counters.count == 3 }
}
