import Foundation
import Testing
@testable import SwiftVMM
@testable import SwiftVMMDevices

/// The 8259A pair's snapshot: taken away from reset, restored into a new pair, which then
/// reads and acknowledges as the original does.
@Suite("PIC8259 snapshot")
struct PIC8259SnapshotTests {
    let int = RecordingLine()
    let acknowledged = Recorder<Int>()
    let pic: PIC8259Pair

    init() {
        let acknowledged = acknowledged
        pic = PIC8259Pair(output: int, acknowledged: { acknowledged.append($0) })
        drive(pic)
    }

    // A0 = 0 and A0 = 1 (8259A datasheet, "Programming the 8259A"). OCW3: read IRR, read
    // ISR; OCW2: non-specific EOI.
    static let command: UInt16 = 0, data: UInt16 = 1
    static let readIRR: UInt8 = 0x0A, readISR: UInt8 = 0x0B, eoi: UInt8 = 0x20

    static func out(_ chip: any PortDevice, _ offset: UInt16, _ value: UInt8) {
        chip.write(offset: offset, size: 1, value: UInt32(value))
    }

    static func inb(_ chip: any PortDevice, _ offset: UInt16) -> UInt8 { UInt8(chip.read(offset: offset, size: 1)) }

    /// Linux's init_8259A (bases 0x20 and 0x28), then: IMR masking IRQ 3 and 4, IRQ 5 and
    /// IRQ 10 level-triggered (ELCR), IRQ 1 taken and not EOIed, IRQ 4 latched while masked,
    /// IRQ 10 held high on the slave (blocked behind IRQ 1), IRQ 0 pending and not yet
    /// acknowledged; the master reading ISR, the slave in special mask mode with IR4 the
    /// lowest priority.
    func drive(_ pic: PIC8259Pair) {
        let master = pic.master, slave = pic.slave
        for (chip, icw) in [(master, [0x20, 0x04, 0x01]), (slave, [0x28, 0x02, 0x01])] as [(any PortDevice, [UInt8])] {
            Self.out(chip, Self.command, 0x11)
            for word in icw { Self.out(chip, Self.data, word) }
        }
        Self.out(master, Self.data, 0x18)
        Self.out(slave, Self.data, 0x00)
        pic.elcr.write(offset: 0, size: 1, value: 0x20)
        pic.elcr.write(offset: 1, size: 1, value: 0x04)
        pic.setIRQ(1, level: true)
        pic.setIRQ(1, level: false)
        #expect(pic.acknowledge() == 0x21)
        pic.setIRQ(4, level: true)
        pic.setIRQ(4, level: false)
        pic.setIRQ(10, level: true)
        pic.setIRQ(0, level: true)
        pic.setIRQ(0, level: false)
        Self.out(master, Self.command, Self.readISR)
        Self.out(slave, Self.command, 0x68)         // OCW3: ESMM + SMM
        Self.out(slave, Self.command, 0xC4)         // OCW2: set priority, IR4 lowest
    }

    /// Every register, read the same way on any pair: IMRs, ELCRs, what each A0 = 0 read
    /// gives now (master ISR, slave IRR), then IRR and ISR of each chip through OCW3.
    static func registers(_ pic: PIC8259Pair) -> [UInt8] {
        let master = pic.master, slave = pic.slave
        var values = [inb(master, data), inb(slave, data),
                      UInt8(pic.elcr.read(offset: 0, size: 1)), UInt8(pic.elcr.read(offset: 1, size: 1)),
                      inb(master, command), inb(slave, command)]
        for chip in [master, slave] {
            out(chip, command, readIRR)
            values.append(inb(chip, command))
            out(chip, command, readISR)
            values.append(inb(chip, command))
        }
        return values
    }

    @Test("restored: the same registers, INT high, the same INTA vectors and IRQs after; restore drives nothing")
    func roundTrip() {
        #expect(pic.hasInterrupt)
        let snapshot = pic.snapshot()
        let restoredINT = RecordingLine()
        let restoredAcknowledged = Recorder<Int>()
        let restored = PIC8259Pair(output: restoredINT, acknowledged: { restoredAcknowledged.append($0) })
        restored.restore(snapshot)
        #expect(restoredINT.levels.isEmpty, "restore sends no INT level")
        #expect(restored.hasInterrupt, "INT as the snapshot recorded it")
        #expect(restored.snapshot() == snapshot)

        // IMR, ELCR, master ISR (RIS), slave IRR, then master IRR (IRQ 0, cascade, IRQ 4) and
        // ISR (IRQ 1), slave IRR (IRQ 10) and ISR.
        let expected: [UInt8] = [0x18, 0x00, 0x20, 0x04, 0x02, 0x04, 0x15, 0x02, 0x04, 0x00]
        #expect(Self.registers(restored) == expected)
        #expect(Self.registers(pic) == expected)

        let sentBefore = int.levels.count
        for device in [pic, restored] {
            #expect(device.acknowledge() == 0x20, "IRQ 0 outranks IRQ 1 in service")
            #expect(!device.hasInterrupt, "the cascade input waits behind IRQ 1")
            Self.out(device.master, Self.command, Self.eoi)       // ends IRQ 0
            #expect(!device.hasInterrupt)
            Self.out(device.master, Self.command, Self.eoi)       // ends IRQ 1
            #expect(device.hasInterrupt, "IRQ 10 through the cascade")
            #expect(device.acknowledge() == 0x2A)
            #expect(!device.hasInterrupt)
        }
        #expect(restoredINT.levels == [false, true, false])
        #expect(Array(int.levels[sentBefore...]) == [false, true, false])
        #expect(restoredAcknowledged.values == [0, 10])
        #expect(acknowledged.values == [1, 0, 10])
        #expect(restored.snapshot() == pic.snapshot())
    }

    @Test("a snapshot survives JSON unchanged")
    func codable() throws {
        let snapshot = pic.snapshot()
        let decoded = try JSONDecoder().decode(PIC8259Pair.Snapshot.self, from: JSONEncoder().encode(snapshot))
        #expect(decoded == snapshot)
        #expect(decoded != PIC8259Pair().snapshot())
        #expect(decoded.master.inService == 0x02 && decoded.master.interruptRequest == 0x15)
        #expect(decoded.slave.icw4 == [.microprocessorMode] && decoded.slave.specialMask && decoded.slave.lowestPriority == 4)
        #expect(decoded.publishedOutput)
    }
}
