import Foundation
import Testing
@testable import SwiftVMM
@testable import SwiftVMMDevices

/// The PM timer's snapshot: taken from one timer, restored into another with its own clock.
@Suite("ACPIPMTimer snapshot")
struct ACPIPMTimerSnapshotTests {
    /// One PM timer with its clock, created at `now`.
    struct Chip {
        let clock = FakeDeviceClock()
        let timer: ACPIPMTimer

        init(now: UInt64) {
            clock.now = now
            let clock = clock
            timer = ACPIPMTimer(now: { clock.now })
        }

        var value: UInt32 { timer.read(offset: 0, size: 4) }
    }

    static let t0: UInt64 = 5_000_000_000

    @Test("a restored PM timer reads as the original, now and later")
    func roundTrip() {
        let old = Chip(now: Self.t0)
        old.clock.now = Self.t0 + 1_000_000
        #expect(old.value == 3_579)
        let snapshot = old.timer.snapshot()
        #expect(snapshot.start == ACPIPMTimer.clock.ticks(in: Self.t0))
        let new = Chip(now: old.clock.now)
        #expect(new.value == 0)
        new.timer.restore(snapshot)
        #expect(new.value == 3_579)
        #expect(new.timer.snapshot() == snapshot)
        for chip in [old, new] { chip.clock.now = Self.t0 + 5_000_000_000 }
        #expect(old.value == 17_897_725 & 0xFF_FFFF, "five seconds, wrapped at 24 bits")
        #expect(new.value == old.value)
    }

    @Test("advanced(by:): the count reads the gap later")
    func advanced() {
        let old = Chip(now: Self.t0)
        old.clock.now = Self.t0 + 1_000_000
        let snapshot = old.timer.snapshot()
        #expect(snapshot.advanced(by: 0) == snapshot)
        let new = Chip(now: old.clock.now + 2_000_000_000)
        new.timer.restore(snapshot.advanced(by: 2_000_000_000))
        #expect(new.value == 3_579 + 7_159_090)
    }

    @Test("a snapshot survives JSON unchanged")
    func codable() throws {
        let snapshot = Chip(now: Self.t0).timer.snapshot()
        let decoded = try JSONDecoder().decode(ACPIPMTimer.Snapshot.self, from: JSONEncoder().encode(snapshot))
        #expect(decoded == snapshot)
        #expect(decoded.start == 17_897_725)
    }
}
