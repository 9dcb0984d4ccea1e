import Foundation
import Testing
@testable import SwiftVMM
@testable import SwiftVMMDevices

/// fw_cfg's snapshot: the selector, the offset and the DMA address's high half, restored
/// into a new device built from the same items.
@Suite("FirmwareConfig snapshot")
struct FirmwareConfigSnapshotTests {
    /// Guest memory that records the addresses a transfer reads and has nothing there.
    final class RecordingMemory: DMAMemory {
        let reads = Recorder<UInt64>()
        struct Unmapped: Error {}
        func read(at address: UInt64, count: Int) throws -> [UInt8] {
            reads.append(address)
            throw Unmapped()
        }
        func write(_ bytes: [UInt8], at address: UInt64) throws { throw Unmapped() }
    }

    let memory = RecordingMemory()
    let device: FirmwareConfig

    /// The command line selected and 3 bytes of it read; the DMA address's high half written
    /// (0x0000_0001), its low half not yet.
    init() throws {
        device = FirmwareConfig(items: try FirmwareConfigTests.items(), memory: memory)
        #expect(FirmwareConfigTests.read(device, 0x15, 3) == Array("k.e".utf8))
        device.dma.write(offset: 0, size: 4, value: UInt32(1).byteSwapped)
    }

    @Test("restored: the data port goes on where it was, and DMA uses the high half written before")
    func roundTrip() throws {
        let snapshot = device.snapshot()
        let restoredMemory = RecordingMemory()
        let restored = FirmwareConfig(items: try FirmwareConfigTests.items(), memory: restoredMemory)
        restored.restore(snapshot)
        #expect(restored.snapshot() == snapshot)
        #expect(restoredMemory.reads.values.isEmpty, "restore starts no transfer")
        for device in [device, restored] {
            let bytes = (0..<6).map { _ in UInt8(device.selectorAndData.read(offset: 1, size: 1)) }
            #expect(bytes == Array("lf qui".utf8))
            device.dma.write(offset: 4, size: 4, value: UInt32(0x40).byteSwapped)
        }
        #expect(restoredMemory.reads.values == [0x1_0000_0040])
        #expect(memory.reads.values == [0x1_0000_0040])
    }

    @Test("a snapshot survives JSON unchanged")
    func codable() throws {
        let snapshot = device.snapshot()
        let decoded = try JSONDecoder().decode(FirmwareConfig.Snapshot.self, from: JSONEncoder().encode(snapshot))
        #expect(decoded == snapshot)
        #expect(decoded.key == 0x15 && decoded.offset == 3 && decoded.dmaAddressHigh == 1)
    }
}
