import Synchronization
import SwiftVMMSupport

/// The time base of every guest-visible clock except the TSC: CLOCK_MONOTONIC less the
/// time a debugger kept the machine stopped. While paused it stands still, so a kernel
/// stopped at a breakpoint for a minute does not wake to a minute of overdue ticks (the
/// TSC is frozen separately, by `DebugController`). Without a debugger it is
/// CLOCK_MONOTONIC.
///
/// Read on every device clock access from any thread, so it takes no lock (a preempted
/// lock holder would delay every timer on an oversubscribed host). Only the debugger's
/// thread pauses and resumes it.
final class MachineClock: Sendable {
    /// Host nanoseconds spent paused, before the current pause; for a restored machine, also
    /// the difference between the host's clock and the snapshot's (modulo 2^64: a snapshot
    /// may come from a host that had been up longer).
    private let pausedTotal = Atomic<UInt64>(0)
    /// Machine time at which it is paused; `running` when it runs.
    private let frozen = Atomic<UInt64>(running)
    private static let running = UInt64.max

    /// Machine time now, in nanoseconds. `resume` updates `pausedTotal` before it clears
    /// `frozen`, so a reader sees either the frozen time or the new offset, never a mix.
    func now() -> UInt64 {
        let frozenAt = frozen.load(ordering: .acquiring)
        guard frozenAt == Self.running else { return frozenAt }
        return monotonicNanoseconds() &- pausedTotal.load(ordering: .acquiring)
    }

    /// Makes the clock read `time` now and run on from there, before the machine runs: a
    /// machine restored from a snapshot continues the snapshot's machine time.
    func continueFrom(_ time: UInt64) {
        pausedTotal.store(monotonicNanoseconds() &- time, ordering: .releasing)
    }

    var isPaused: Bool { frozen.load(ordering: .acquiring) != Self.running }

    /// The host CLOCK_MONOTONIC time at which machine time reaches `time` (if it runs).
    func hostTime(_ time: UInt64) -> UInt64 { time &+ pausedTotal.load(ordering: .acquiring) }

    func pause() {
        guard !isPaused else { return }
        frozen.store(now(), ordering: .releasing)
    }

    func resume() {
        let frozenAt = frozen.load(ordering: .acquiring)
        guard frozenAt != Self.running else { return }
        // Machine time continues from frozenAt: host now - new total = frozenAt.
        pausedTotal.store(monotonicNanoseconds() &- frozenAt, ordering: .releasing)
        frozen.store(Self.running, ordering: .releasing)
    }
}
