import Foundation
import Testing
@testable import SwiftVMM
@testable import SwiftVMMDevices

/// Port 0x92, kept across a snapshot: bit 0 set stays set, so setting it again is no edge.
@Suite("SystemControlPortA snapshot")
struct SystemControlPortASnapshotTests {
    let resets = PowerDevicesTests.Count()
    let port: SystemControlPortA

    /// Bit 0 raised (one fast reset) and bit 4 set.
    init() {
        let resets = resets
        port = SystemControlPortA { resets.increment() }
        port.write(offset: 0, size: 1, value: 0x11)
    }

    @Test("restored: reads the same; bit 0 written 1 again does not reset, 0 then 1 does, as on the original")
    func roundTrip() {
        #expect(resets.count == 1)
        let restoredResets = PowerDevicesTests.Count()
        let restored = SystemControlPortA { restoredResets.increment() }
        restored.restore(port.snapshot())
        #expect(restoredResets.count == 0, "restore resets nothing")
        for (device, count) in [(port, resets), (restored, restoredResets)] {
            let before = count.count
            #expect(device.read(offset: 0, size: 1) == 0x13, "A20 reads 1")
            device.write(offset: 0, size: 1, value: 0x01)
            #expect(count.count == before, "bit 0 was already set")
            device.write(offset: 0, size: 1, value: 0x00)
            device.write(offset: 0, size: 1, value: 0x01)
            #expect(count.count == before + 1)
        }
    }

    @Test("a snapshot survives JSON unchanged")
    func codable() throws {
        let snapshot = port.snapshot()
        let decoded = try JSONDecoder().decode(SystemControlPortA.Snapshot.self, from: JSONEncoder().encode(snapshot))
        #expect(decoded == snapshot)
        #expect(decoded.register == 0x11)
    }
}
