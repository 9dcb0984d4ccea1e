import Foundation
import Testing
@testable import SwiftVMM
@testable import SwiftVMMDevices

/// The I/O APIC's snapshot: taken with a level pin awaiting EOI and an edge in flight,
/// restored into a new I/O APIC, which then reads, EOIs and re-delivers as the original does.
@Suite("IOAPIC snapshot")
struct IOAPICSnapshotTests {
    let messages = Recorder<IOAPIC.Message>()
    let acknowledged = Recorder<Int>()
    let ioapic: IOAPIC

    init() {
        let messages = messages, acknowledged = acknowledged
        ioapic = IOAPIC(id: 2, deliver: { messages.append($0) }, acknowledged: { acknowledged.append($0) })
        drive()
    }

    // 82093AA §3.0: IOREGSEL at 0x00, IOWIN at 0x10; ICH9 §13.5: EOI at 0x40.
    static let select: UInt64 = 0x00, window: UInt64 = 0x10, eoi: UInt64 = 0x40
    // Redirection entry bits (82093AA §3.2.4).
    static let level: UInt32 = 1 << 15, masked: UInt32 = 1 << 16, remoteIRR: UInt32 = 1 << 14
    static let logical: UInt32 = 1 << 11, activeLow: UInt32 = 1 << 13

    static func write(_ ioapic: IOAPIC, _ index: UInt8, _ value: UInt32) {
        ioapic.write(offset: select, size: 4, value: UInt64(index))
        ioapic.write(offset: window, size: 4, value: UInt64(value))
    }

    /// The message of pin 9 below: level-triggered vector 0x39 to logical destination 0x03.
    static let pin9 = IOAPIC.Message(vector: 0x39, deliveryMode: .fixed, logical: true, destination: 0x03, levelTriggered: true)

    /// ID 5; pin 9 level-triggered, active low, fixed, to logical destination 0x03 and
    /// asserted, so its message went out and Remote IRR is set; pin 4 edge-triggered, vector
    /// 0x34 to APIC 1, raised, its EOI not seen yet; pin 6 programmed but masked; IOREGSEL
    /// left on pin 9's high half.
    func drive() {
        Self.write(ioapic, 0x00, 0x0500_0000)
        Self.write(ioapic, 0x11 + 2 * 4, 0x0100_0000)
        Self.write(ioapic, 0x10 + 2 * 4, 0x34)
        Self.write(ioapic, 0x11 + 2 * 9, 0x0300_0000)
        Self.write(ioapic, 0x10 + 2 * 9, 0x39 | Self.level | Self.activeLow | Self.logical)
        Self.write(ioapic, 0x10 + 2 * 6, 0x36 | Self.masked)
        ioapic.setPin(9, level: true)
        ioapic.setPin(4, level: true)
        ioapic.write(offset: Self.select, size: 4, value: 0x11 + 2 * 9)
    }

    /// IOREGSEL and the window as left, then every indirect register (ID, version,
    /// arbitration, both halves of each redirection entry).
    static func registers(_ ioapic: IOAPIC) -> [UInt32] {
        var values = [UInt32(ioapic.read(offset: select, size: 4)), UInt32(ioapic.read(offset: window, size: 4))]
        for index in [0x00, 0x01, 0x02] + Array(0x10..<0x10 + 2 * UInt8(IOAPIC.pinCount)) {
            ioapic.write(offset: select, size: 4, value: UInt64(index))
            values.append(UInt32(ioapic.read(offset: window, size: 4)))
        }
        return values
    }

    @Test("restored: the same registers and acceptance, the same EOI re-delivery and edge acknowledgement; restore delivers nothing")
    func roundTrip() {
        #expect(messages.values.count == 2)
        let snapshot = ioapic.snapshot()
        let restoredMessages = Recorder<IOAPIC.Message>(), restoredAcknowledged = Recorder<Int>()
        let restored = IOAPIC(id: 0, deliver: { restoredMessages.append($0) }, acknowledged: { restoredAcknowledged.append($0) })
        restored.restore(snapshot)
        #expect(restoredMessages.values.isEmpty, "restore delivers nothing")
        #expect(restored.snapshot() == snapshot)

        let registers = Self.registers(restored)
        #expect(registers == Self.registers(ioapic))
        #expect(registers[0] == 0x23 && registers[1] == 0x0300_0000, "IOREGSEL on pin 9's high half")
        #expect(registers[2] == 0x0500_0000 && registers[3] == 0x0017_0020 && registers[4] == 0x0500_0000)
        let low = { (pin: Int) in registers[5 + 2 * pin] }
        #expect(low(9) == 0x39 | Self.level | Self.activeLow | Self.logical | Self.remoteIRR)
        #expect(low(4) == 0x34 && registers[6 + 2 * 4] == 0x0100_0000)
        #expect(low(6) == 0x36 | Self.masked)
        #expect(low(0) == Self.masked)
        for device in [ioapic, restored] {
            #expect(device.acceptance(pin: 9) == .pending && device.acceptance(pin: 4) == .pending)
            #expect(device.acceptance(pin: 6) == .masked && device.acceptance(pin: 3) == .masked)
        }

        let sentBefore = messages.values.count
        for device in [ioapic, restored] {
            device.edgeEndOfInterrupt(vector: 0x34)
            #expect(device.acceptance(pin: 4) == .ready)
            device.write(offset: Self.eoi, size: 4, value: 0x39)   // pin 9 still asserted: again
            #expect(device.acceptance(pin: 9) == .pending)
            device.setPin(9, level: false)
            device.endOfInterrupt(vector: 0x39)                   // now deasserted: not again
            #expect(device.acceptance(pin: 9) == .ready)
        }
        #expect(restoredAcknowledged.values == [4])
        #expect(acknowledged.values == [4])
        #expect(restoredMessages.values == [Self.pin9])
        #expect(Array(messages.values[sentBefore...]) == [Self.pin9])
        #expect(restored.snapshot() == ioapic.snapshot())
    }

    @Test("a snapshot survives JSON unchanged")
    func codable() throws {
        let snapshot = ioapic.snapshot()
        let decoded = try JSONDecoder().decode(IOAPIC.Snapshot.self, from: JSONEncoder().encode(snapshot))
        #expect(decoded == snapshot)
        #expect(decoded != IOAPIC(id: 2, deliver: { _ in }).snapshot())
        #expect(decoded.select == 0x23 && decoded.id == 0x0500_0000)
        #expect(decoded.pins == 1 << 9 | 1 << 4 && decoded.edgesInFlight == 1 << 4)
        #expect(decoded.redirection[9] == 0x0300_0000_0000_0000 | UInt64(0x39 | Self.level | Self.activeLow | Self.logical | Self.remoteIRR))
    }
}
