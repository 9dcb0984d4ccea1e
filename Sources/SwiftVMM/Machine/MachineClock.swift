import Synchronization

/// The time base of every guest-visible clock except the TSC: CLOCK_MONOTONIC less the
/// time a debugger kept the machine stopped. While paused it stands still, so a kernel
/// stopped at a breakpoint for a minute does not wake to a minute of overdue ticks (the
/// TSC is frozen separately, by `DebugController`). Without a debugger it is
/// CLOCK_MONOTONIC.
final class MachineClock: Sendable {
    private struct State {
        /// Host nanoseconds spent paused, before the current pause.
        var pausedTotal: UInt64 = 0
        var pausedAt: UInt64?
    }
    private let state = Mutex(State())

    /// Machine time now, in nanoseconds.
    func now() -> UInt64 {
        state.withLock { ($0.pausedAt ?? monotonicNanoseconds()) - $0.pausedTotal }
    }

    var isPaused: Bool { state.withLock { $0.pausedAt != nil } }

    /// The host CLOCK_MONOTONIC time at which machine time reaches `time` (if it runs).
    func hostTime(_ time: UInt64) -> UInt64 { state.withLock { time &+ $0.pausedTotal } }

    func pause() {
        state.withLock { if $0.pausedAt == nil { $0.pausedAt = monotonicNanoseconds() } }
    }

    func resume() {
        state.withLock {
            guard let pausedAt = $0.pausedAt else { return }
            $0.pausedTotal += monotonicNanoseconds() - pausedAt
            $0.pausedAt = nil
        }
    }
}
