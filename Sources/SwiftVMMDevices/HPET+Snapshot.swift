/// The HPET's state for a machine snapshot (issue 22).
extension HPET {
    /// The whole `State`: the general registers, the main counter (its value while halted,
    /// or where it started while running), each timer's configuration, comparator, period,
    /// next match, owed edges and statistics, the earliest deadline, the level lines as last
    /// sent and the last status clear. Times are machine time, the DeviceTimer's clock: the
    /// counter's start in 10 MHz ticks on its fixed grid, the deadline and the last status
    /// clear in nanoseconds.
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

extension HPET.Snapshot {
    /// The same state `nanoseconds` later in machine time, for a restore after a gap the host
    /// could not hide (the guest TSC kept running). A running main counter is free-running: it
    /// reads the gap later, since it counts from machine time. Armed timers keep their
    /// remaining time and owe nothing for the gap: each tracked comparator (Tn_COMPARATOR,
    /// §2.3.9) and its next match move on by the whole 10 MHz ticks in the gap, as far as the
    /// counter did, so the guest sees its comparator register moved, as a TSC-deadline
    /// register is. A comparator whose interrupt is disabled is not armed and stays; a level
    /// timer's wait after a status clear keeps its remaining time too. Edges already owed
    /// stay owed. Only the gap's fraction of a tick (under 100 ns) is lost.
    package func advanced(by nanoseconds: UInt64) -> Self {
        let ticks = HPET.clock.ticks(in: nanoseconds)
        var state = self
        state.statusClearedAt &+= nanoseconds
        for index in state.timers.indices {
            guard let target = state.timers[index].target else { continue }
            let (next, overflow) = target.addingReportingOverflow(ticks)
            state.timers[index].target = overflow ? nil : next
            state.timers[index].comparator = (state.timers[index].comparator &+ ticks) & state.timers[index].widthMask
        }
        state.updateDeadline()
        return state
    }
}

extension HPET.Snapshot {
    /// One entry per comparator (a snapshot read from a file is checked before it is restored).
    package var isWellFormed: Bool { timers.count == HPET.timerCount }
}
