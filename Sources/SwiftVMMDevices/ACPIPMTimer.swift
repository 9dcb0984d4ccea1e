import Synchronization

/// The ACPI power management timer (ACPI 6.5 §4.8.3.3, "Power Management Timer"): a
/// free-running 24-bit counter at 3.579545 MHz in a 4-byte read-only register (PM_TMR_BLK,
/// which the FADT reports; TMR_VAL_EXT clear: 24 bits). It counts from 0 at creation (or
/// from a snapshot's start) and is computed from the host clock, so it needs no lock and no
/// timer. The TMR_STS/TMR_EN overflow interrupt lives in the PM1 event block, not here.
public final class ACPIPMTimer: PortDevice {
    enum Register {
        static let value: UInt16 = 0       // TMR_VAL, bits 23:0; bits 31:24 read 0
    }

    /// The timer's clock: the PC's 14.31818 MHz crystal / 4 (§4.8.3.3).
    public static let hertz: UInt64 = 3_579_545
    /// TMR_VAL is 24 bits wide.
    static let counterMask: UInt64 = 0xFF_FFFF
    /// The register block's length (FADT PM_TMR_LEN = 4).
    public static let size: UInt16 = 4

    static let clock = TickClock(hertz: hertz)

    private let now: DeviceClock
    /// The clock tick at creation (or a snapshot's). Ticks sit on a fixed grid of host time
    /// (tick n at n / 3.579545 MHz), so differences count whole clock edges.
    let start: Atomic<UInt64>

    /// `now` is the host clock; the counter reads 0 at this moment.
    public init(now: @escaping DeviceClock) {
        self.now = now
        start = Atomic(Self.clock.ticks(in: now()))
    }

    /// TMR_VAL; a 1- or 2-byte read returns the low bytes, other offsets the bytes above.
    public func read(offset: UInt16, size: Int) -> UInt32 {
        let tick = Self.clock.ticks(in: now())
        let start = start.load(ordering: .relaxed)
        let value = (tick > start ? tick - start : 0) & Self.counterMask
        let bytes = UInt32(truncatingIfNeeded: value) >> (8 * UInt32(offset & 3))
        return size >= 4 ? bytes : bytes & ((1 << (8 * UInt32(size))) - 1)
    }

    /// The register is read-only.
    public func write(offset: UInt16, size: Int, value: UInt32) {}
}
