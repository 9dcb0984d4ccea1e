import Foundation
import Testing
@testable import SwiftVMM
@testable import SwiftVMMDevices

/// PM1 status and enable, kept across a snapshot.
@Suite("ACPIPowerManagement snapshot")
struct ACPIPowerManagementSnapshotTests {
    let pm = ACPIPowerManagement {}

    /// RTC_EN and WAK_STS | RTC_STS after an RTC wake, with WAK_STS cleared again.
    init() {
        pm.eventBlock.write(offset: 2, size: 2, value: 0x0400)
        pm.wokeOnRTC()
        pm.eventBlock.write(offset: 0, size: 2, value: 0x8000)
    }

    @Test("restored: the same status and enable, neither powering off nor suspending")
    func roundTrip() {
        let offs = PowerDevicesTests.Count(), suspends = PowerDevicesTests.Count()
        let restored = ACPIPowerManagement(powerOff: { offs.increment() }, suspend: { suspends.increment() })
        restored.restore(pm.snapshot())
        #expect(offs.count == 0 && suspends.count == 0)
        #expect(restored.rtcWakeEnabled)
        for device in [pm, restored] {
            #expect(device.eventBlock.read(offset: 0, size: 4) == 0x0400_0400)
            device.eventBlock.write(offset: 0, size: 2, value: 0x0400)     // write 1 to clear RTC_STS
            #expect(device.eventBlock.read(offset: 0, size: 4) == 0x0400_0000)
        }
        #expect(restored.snapshot() == pm.snapshot())
    }

    @Test("a snapshot survives JSON unchanged")
    func codable() throws {
        let snapshot = pm.snapshot()
        let decoded = try JSONDecoder().decode(ACPIPowerManagement.Snapshot.self, from: JSONEncoder().encode(snapshot))
        #expect(decoded == snapshot)
        #expect(decoded.status == 0x0400 && decoded.enable == 0x0400)
    }
}
