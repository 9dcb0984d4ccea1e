/// The RTC's state for a machine snapshot (issue 22).
extension MC146818RTC {
    /// The 128 bytes (registers A and B, the alarm bytes, CMOS RAM, and the time registers
    /// while updates are halted), the index port, IRQF, the last read of register C, the next
    /// interrupt's deadline, and the time of day. Times are machine time, the DeviceTimer's
    /// clock: the device reads the time of day from the host's UTC clock plus an offset, but
    /// the snapshot holds it against machine time, so the calendar runs on from the
    /// snapshot's with machine time on any host. The last read of register C is in guest time
    /// (the calendar's nanoseconds since 1970).
    package struct Snapshot: Sendable, Equatable, Codable {
        var ram: [UInt8]
        /// Guest time (the calendar's nanoseconds since 1970-01-01 UTC) minus machine time.
        var machineClockOffset: Int64
        var index: Int
        var nmiDisabled: Bool
        var lastStatusCRead: Int64
        var interruptLevel: Bool
        var deadline: UInt64?
    }

    /// The device's whole state now (under its lock).
    package func snapshot() -> Snapshot {
        let now = now(), machineTime = Int64(bitPattern: timer?.now() ?? 0)
        return state.withLock { state in
            Snapshot(ram: state.ram, machineClockOffset: state.clockOffset &+ now &- machineTime, index: state.index,
                     nmiDisabled: state.nmiDisabled, lastStatusCRead: state.lastStatusCRead,
                     interruptLevel: state.interruptLevel, deadline: state.deadline)
        }
    }

    /// Replaces this device's state with `snapshot` (a new device of the same machine layout,
    /// before or while it runs) and re-arms its timer for the deadline the snapshot holds.
    /// Drives no interrupt line: the interrupt controllers' snapshots already hold any edge or
    /// level this device sent.
    package func restore(_ snapshot: Snapshot) {
        let now = now(), machineTime = Int64(bitPattern: timer?.now() ?? 0)
        state.withLock { state in
            state = State(ram: snapshot.ram, clockOffset: snapshot.machineClockOffset &+ machineTime &- now,
                          index: snapshot.index, nmiDisabled: snapshot.nmiDisabled,
                          lastStatusCRead: snapshot.lastStatusCRead, interruptLevel: snapshot.interruptLevel,
                          deadline: snapshot.deadline)
        }
        timer?.arm(following: { state.withLock { $0.deadline } }, first: snapshot.deadline)
    }
}

extension MC146818RTC.Snapshot {
    /// The same state `nanoseconds` later in machine time, for a restore after a gap the host
    /// could not hide (the guest TSC kept running): the calendar is free-running and reads
    /// the gap later (its offset to machine time stays). The last read of register C and the
    /// deadline move on by the gap, so the armed interrupt comes after its remaining time and
    /// register C's flags cover a span as long as before, not the gap. The periodic rate and
    /// the update cycle divide the calendar's time base (datasheet, "Periodic Interrupt",
    /// "Update Cycle"), so they keep their phase with the calendar: when the gap is a whole
    /// number of seconds their flags and next edges are exactly the snapshot's. An alarm is
    /// a time of day ("Alarm Registers") and comes when the calendar reaches it; a deadline
    /// that finds no event is re-armed for the next (`timerFired`).
    package func advanced(by nanoseconds: UInt64) -> Self {
        var state = self
        state.lastStatusCRead &+= Int64(bitPattern: nanoseconds)
        state.deadline = state.deadline.map { $0 &+ nanoseconds }
        return state
    }
}

extension MC146818RTC.Snapshot {
    /// All 128 bytes of CMOS RAM (a snapshot read from a file is checked before it is restored).
    package var isWellFormed: Bool { ram.count == 128 }
}
