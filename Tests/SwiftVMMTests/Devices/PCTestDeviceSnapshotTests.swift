import Foundation
import Testing
@testable import SwiftVMM
@testable import SwiftVMMDevices

/// pc-testdev's scratch register and scratch memory, kept across a snapshot.
@Suite("PCTestDevice snapshot")
struct PCTestDeviceSnapshotTests {
    static func newDevice(lines: [RecordingLine]) -> PCTestDevice { PCTestDevice(lines: lines) { _ in } }

    let lines = (0..<PCTestDevice.lineCount).map { _ in RecordingLine() }
    let device: PCTestDevice

    /// Scratch 0x1122_3344; 8 bytes at 0x10 and 4 at the window's last 4; line 11 held high.
    init() {
        device = Self.newDevice(lines: lines)
        device.scratch.write(offset: 0, size: 4, value: 0x1122_3344)
        device.memory.write(offset: 0x10, size: 8, value: 0x0102_0304_0506_0708)
        device.memory.write(offset: 0xFFFC, size: 4, value: 0xCAFE_F00D)
        device.interruptLines.write(offset: 11, size: 1, value: 1)
    }

    @Test("restored: the same scratch register and memory; restore drives no line")
    func roundTrip() {
        let restoredLines = (0..<PCTestDevice.lineCount).map { _ in RecordingLine() }
        let restored = Self.newDevice(lines: restoredLines)
        restored.restore(device.snapshot())
        #expect(restoredLines.allSatisfy { $0.levels.isEmpty })
        for device in [device, restored] {
            #expect(device.scratch.read(offset: 0, size: 4) == 0x1122_3344)
            #expect(device.scratch.read(offset: 2, size: 2) == 0x1122)
            #expect(device.memory.read(offset: 0x10, size: 8) == 0x0102_0304_0506_0708)
            #expect(device.memory.read(offset: 0xFFFC, size: 4) == 0xCAFE_F00D)
            #expect(device.memory.read(offset: 0x18, size: 8) == 0)
        }
        restored.scratch.write(offset: 1, size: 1, value: 0xAB)
        #expect(restored.scratch.read(offset: 0, size: 4) == 0x1122_AB44)
        #expect(device.scratch.read(offset: 0, size: 4) == 0x1122_3344, "the two devices share nothing")
    }

    @Test("a snapshot survives JSON unchanged")
    func codable() throws {
        let snapshot = device.snapshot()
        let decoded = try JSONDecoder().decode(PCTestDevice.Snapshot.self, from: JSONEncoder().encode(snapshot))
        #expect(decoded == snapshot)
        #expect(decoded.scratch == 0x1122_3344 && decoded.memory.count == PCTestDevice.memorySize)
        #expect(decoded.memory[0x10..<0x18] == [0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01])
    }
}
