import Foundation
import Testing
@testable import SwiftVMM
@testable import SwiftVMMDevices

/// The reset control register at 0xCF9, kept across a snapshot.
@Suite("ResetControl snapshot")
struct ResetControlSnapshotTests {
    let resets = PowerDevicesTests.Count()
    let device: ResetControl

    /// Hard reset and full reset chosen (bits 1 and 3), no reset yet.
    init() {
        let resets = resets
        device = ResetControl { resets.increment() }
        device.write(offset: 0, size: 1, value: 0x0A)
    }

    @Test("restored: reads back the same and resets nothing until told")
    func roundTrip() {
        let restoredResets = PowerDevicesTests.Count()
        let restored = ResetControl { restoredResets.increment() }
        restored.restore(device.snapshot())
        #expect(restoredResets.count == 0)
        #expect(restored.read(offset: 0, size: 1) == 0x0A)
        restored.write(offset: 0, size: 1, value: 0x06)
        #expect(restoredResets.count == 1 && restored.read(offset: 0, size: 1) == 0x06)
        #expect(resets.count == 0)
    }

    @Test("a snapshot survives JSON unchanged")
    func codable() throws {
        let snapshot = device.snapshot()
        let decoded = try JSONDecoder().decode(ResetControl.Snapshot.self, from: JSONEncoder().encode(snapshot))
        #expect(decoded == snapshot)
        #expect(decoded.register == 0x0A)
    }
}
