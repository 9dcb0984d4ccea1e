/// The PM timer's state for a machine snapshot (issue 22).
extension ACPIPMTimer {
    /// Where the count started: the tick of the 3.579545 MHz clock, on its fixed grid of
    /// machine time (the DeviceTimer's clock), at which TMR_VAL read 0. The count itself is
    /// machine time since then.
    package struct Snapshot: Sendable, Equatable, Codable {
        var start: UInt64
    }

    /// The device's whole state now (one atomic load; the timer has no lock).
    package func snapshot() -> Snapshot {
        Snapshot(start: start.load(ordering: .relaxed))
    }

    /// Replaces this device's state with `snapshot` (a new device of the same machine layout,
    /// before or while it runs). It has no timer to re-arm and drives no interrupt line.
    package func restore(_ snapshot: Snapshot) {
        start.store(snapshot.start, ordering: .relaxed)
    }
}

extension ACPIPMTimer.Snapshot {
    /// The same state `nanoseconds` later in machine time, for a restore after a gap the host
    /// could not hide (the guest TSC kept running): the count is free-running and reads the
    /// gap later with its start unchanged, since it is computed from machine time.
    package func advanced(by nanoseconds: UInt64) -> Self {
        self
    }
}
