/// The host clock as devices see it: CLOCK_MONOTONIC in nanoseconds. Devices derive their
/// counters from it (count = f(elapsed time)) rather than ticking.
public typealias DeviceClock = @Sendable () -> UInt64

/// How a device that raises interrupts on its own (PIT channel 0, HPET comparators) reads
/// the host clock and asks the timer service for a callback.
///
/// `arm(ns)` asks the timer service to call the device's `timerFired(now:)` at host time
/// `ns` (or as soon as it can when `ns` has passed); `arm(nil)` disarms. Each call replaces
/// the previous deadline. A device with several timers arms its earliest deadline.
/// `timerFired(now:)` may come late, early (a stale deadline) or when nothing is due; each
/// device checks its own state and re-arms.
public struct DeviceTimer: Sendable {
    public var now: DeviceClock
    public var arm: @Sendable (UInt64?) -> Void

    public init(now: @escaping DeviceClock, arm: @escaping @Sendable (UInt64?) -> Void) {
        self.now = now
        self.arm = arm
    }

    /// Arms the deadline the device holds under its lock, without holding the lock.
    /// `current` reads the deadline under the lock; see `publishSettled`.
    func arm(following current: () -> UInt64?, first: UInt64?) {
        publishSettled(first, current: current, send: arm)
    }
}

/// Sends a value computed under a device's lock to an outside sink (an interrupt line, the
/// timer service) after the lock is released, then reads the value again under the lock and
/// sends again until what was sent last is what the device holds.
///
/// Two threads can compute values in one order and send them in the other; the check after
/// sending makes the last send in time carry the device's current value, because any change
/// after that check is followed by its own send. Sinks must accept repeated values.
func publishSettled<Value: Equatable>(_ first: Value, current: () -> Value, send: (Value) -> Void) {
    var sent = first
    while true {
        send(sent)
        let now = current()
        if now == sent { return }
        sent = now
    }
}

/// A device's input clock laid on host time: tick n falls at n / hertz seconds of
/// CLOCK_MONOTONIC. Devices number their clock edges on this fixed grid and subtract tick
/// numbers, so counts and deadlines convert exactly (128-bit intermediates) and periodic
/// devices keep their phase without accumulating rounding.
struct TickClock: Sendable {
    /// Input clock in Hz.
    let hertz: UInt64

    /// The tick at host time `nanoseconds` (the last edge at or before it); also the whole
    /// ticks in a span of that many nanoseconds.
    func ticks(in nanoseconds: UInt64) -> UInt64 {
        UInt64(clamping: UInt128(nanoseconds) * UInt128(hertz) / 1_000_000_000)
    }

    /// The host time of tick `ticks`, rounded up, so a deadline computed with it is never
    /// early: `ticks(in: nanoseconds(for: n)) == n`.
    func nanoseconds(for ticks: UInt64) -> UInt64 {
        UInt64(clamping: (UInt128(ticks) * 1_000_000_000 + UInt128(hertz) - 1) / UInt128(hertz))
    }
}
