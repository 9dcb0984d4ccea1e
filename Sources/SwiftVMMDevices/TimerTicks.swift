/// What became of a timer's expiries (`Machine.statistics`, `--trace summary`). Every
/// expiry is delivered, discarded, or still owed: expiries = delivered + discarded + owed.
public struct TimerTicks: Sendable, Equatable, Codable, CustomStringConvertible {
    /// Expiries of the timer's deadlines (periodic ones counted one per period).
    public var expiries: UInt64 = 0
    /// Interrupts sent to the interrupt controllers.
    public var delivered: UInt64 = 0
    /// Of those, sent late because the host ran the timer late: held until the guest took
    /// the one before (the `delay` lost-tick policy).
    public var caughtUp: UInt64 = 0
    /// Expiries merged into another interrupt or dropped (masked line, reprogrammed timer,
    /// the `discard` policy, or a backlog past its cap).
    public var discarded: UInt64 = 0

    public init() {}

    public var description: String {
        "\(expiries) expiries, \(delivered) delivered (\(caughtUp) caught up), \(discarded) discarded"
    }
}
