import Testing
@testable import SwiftVMM
@testable import SwiftVMMSupport
@testable import SwiftVMMDevices

/// A settable host clock.
private final class PMClock: Sendable {
    private let time = AnnotatedMutex<UInt64>(5_000_000_000)
    var now: UInt64 {
        get { time.withLock { $0 } }
        set { time.withLock { $0 = newValue } }
    }
}

/// The ACPI PM timer read at chosen host times.
@Suite("ACPIPMTimer")
struct ACPIPMTimerTests {
    private let clock = PMClock()
    let timer: ACPIPMTimer

    init() {
        let clock = clock
        timer = ACPIPMTimer(now: { clock.now })
    }

    /// Moves the clock to `nanoseconds` after the timer was created.
    func advance(to nanoseconds: UInt64) { clock.now = 5_000_000_000 + nanoseconds }
    func read(size: Int = 4, offset: UInt16 = 0) -> UInt32 { timer.read(offset: offset, size: size) }

    @Test("counts at 3.579545 MHz from 0")
    func rate() {
        #expect(read() == 0)
        advance(to: 1_000_000)
        #expect(read() == 3_579, "1 ms")
        advance(to: 1_000_000_000)
        #expect(read() == 3_579_545, "1 s")
        advance(to: 280)
        #expect(read() == 1, "one tick is 279.4 ns")
    }

    @Test("the counter is 24 bits and wraps")
    func wraps() {
        let wrap = ACPIPMTimer.clock.nanoseconds(for: 1 << 24)
        advance(to: wrap - 1)
        #expect(read() == 0xFF_FFFF)
        advance(to: wrap)
        #expect(read() == 0)
        advance(to: ACPIPMTimer.clock.nanoseconds(for: (1 << 24) + 5))
        #expect(read() == 5)
        advance(to: 10_000_000_000)
        #expect(read() == UInt32(35_795_450 % (1 << 24)), "10 s")
    }

    @Test("1- and 2-byte reads return the low bytes; offsets select higher bytes; writes do nothing")
    func accessSizes() {
        advance(to: ACPIPMTimer.clock.nanoseconds(for: 0x12_3456))
        #expect(read(size: 4) == 0x0012_3456)
        #expect(read(size: 2) == 0x3456)
        #expect(read(size: 1) == 0x56)
        #expect(read(size: 1, offset: 1) == 0x34)
        #expect(read(size: 1, offset: 2) == 0x12)
        #expect(read(size: 1, offset: 3) == 0x00, "bits 31:24 read 0")
        timer.write(offset: 0, size: 4, value: 0)
        #expect(read() == 0x0012_3456)
    }
}
