import Testing
@testable import SwiftVMM

/// The I/O APIC through IOREGSEL/IOWIN, with a recording APIC bus.
@Suite("IOAPIC")
struct IOAPICTests {
    let messages = Recorder<IOAPIC.Message>()
    let ioapic: IOAPIC

    init() {
        let messages = messages
        ioapic = IOAPIC(id: 2, deliver: { messages.append($0) })
    }

    // 82093AA §3.0: IOREGSEL at 0x00, IOWIN at 0x10; ICH9 §13.5: EOI at 0x40.
    static let select: UInt64 = 0x00, window: UInt64 = 0x10, eoi: UInt64 = 0x40

    func read(_ index: UInt8) -> UInt32 {
        ioapic.write(offset: Self.select, size: 4, value: UInt64(index))
        return UInt32(ioapic.read(offset: Self.window, size: 4))
    }

    func write(_ index: UInt8, _ value: UInt32) {
        ioapic.write(offset: Self.select, size: 4, value: UInt64(index))
        ioapic.write(offset: Self.window, size: 4, value: UInt64(value))
    }

    /// Programs redirection entry `pin`: high half first, then low (which may unmask).
    func route(_ pin: Int, low: UInt32, destination: UInt8 = 0) {
        write(UInt8(0x11 + 2 * pin), UInt32(destination) << 24)
        write(UInt8(0x10 + 2 * pin), low)
    }

    func low(_ pin: Int) -> UInt32 { read(UInt8(0x10 + 2 * pin)) }

    // Redirection entry bits (82093AA §3.2.4).
    static let level: UInt32 = 1 << 15, masked: UInt32 = 1 << 16, remoteIRR: UInt32 = 1 << 14
    static let logical: UInt32 = 1 << 11, activeLow: UInt32 = 1 << 13

    // MARK: Identification

    @Test("ID, version and arbitration registers")
    func identification() {
        #expect(read(0x01) == 0x0017_0020, "version 0x20, 24 entries")
        #expect(read(0x00) == 0x0200_0000, "ID 2 in bits 27:24")
        #expect(read(0x02) == 0x0200_0000, "arbitration ID follows the ID")
        write(0x00, 0xFFFF_FFFF)
        #expect(read(0x00) == 0x0F00_0000, "only bits 27:24 are writable")
        #expect(read(0x02) == 0x0F00_0000)
        write(0x01, 0)
        write(0x02, 0)
        #expect(read(0x01) == 0x0017_0020, "version is read-only")
        #expect(read(0x02) == 0x0F00_0000, "arbitration is read-only")
        #expect(read(0x40) == 0, "unimplemented index")
        ioapic.write(offset: Self.select, size: 4, value: 0x13)
        #expect(ioapic.read(offset: Self.select, size: 4) == 0x13, "IOREGSEL reads back")
        #expect(ioapic.read(offset: 0x20, size: 4) == 0)
    }

    @Test("redirection entries start masked; only the defined bits are writable")
    func redirectionEntries() {
        for pin in [0, 23] {
            #expect(low(pin) == Self.masked)
            #expect(read(UInt8(0x11 + 2 * pin)) == 0)
        }
        write(0x10, 0xFFFF_FFFF)
        #expect(low(0) == 0x0001_AFFF, "delivery status and Remote IRR are read-only")
        write(0x11, 0xFFFF_FFFF)
        #expect(read(0x11) == 0xFF00_0000, "destination in bits 63:56; 55:32 reserved")
        #expect(read(0x40) == 0, "past entry 23")
        #expect(messages.values.isEmpty)
    }

    // MARK: Edge

    @Test("edge: a rising edge on an unmasked pin sends one message")
    func edgeDelivery() {
        route(1, low: 0x31, destination: 3)
        ioapic.setPin(1, level: true)
        #expect(messages.values == [.init(vector: 0x31, deliveryMode: .fixed, logical: false, destination: 3, levelTriggered: false)])
        ioapic.setPin(1, level: true)
        #expect(messages.values.count == 1, "no edge: no message")
        ioapic.setPin(1, level: false)
        ioapic.setPin(1, level: true)
        #expect(messages.values.count == 2)
        #expect(low(1) & Self.remoteIRR == 0, "edge entries never set Remote IRR")
    }

    @Test("edge: masked edges are lost, even after unmasking")
    func edgeMasking() {
        route(4, low: Self.masked | 0x34)
        ioapic.setPin(4, level: true)
        ioapic.setPin(4, level: false)
        route(4, low: 0x34)
        #expect(messages.values.isEmpty)
        ioapic.setPin(4, level: true)
        #expect(messages.values.map(\.vector) == [0x34])
        ioapic.setPin(99, level: true)
        ioapic.setPin(-1, level: true)
        #expect(messages.values.count == 1)
    }

    @Test("delivery mode, logical destination and trigger mode reach the message")
    func messageFields() {
        route(0, low: 0x0000_0700 | Self.masked, destination: 0)   // ExtINT (PIC virtual wire)
        route(2, low: 0x0000_0400 | Self.logical | 0x02, destination: 0x0F)  // NMI, logical
        route(3, low: 0x0000_0100 | Self.logical | 0x45, destination: 0xFF)  // lowest priority
        route(5, low: 0x0000_0300 | 0x46)                              // reserved mode
        route(0, low: 0x0000_0700)
        ioapic.setPin(0, level: true)
        ioapic.setPin(2, level: true)
        ioapic.setPin(3, level: true)
        ioapic.setPin(5, level: true)
        #expect(messages.values == [
            .init(vector: 0, deliveryMode: .extINT, logical: false, destination: 0, levelTriggered: false),
            .init(vector: 0x02, deliveryMode: .nmi, logical: true, destination: 0x0F, levelTriggered: false),
            .init(vector: 0x45, deliveryMode: .lowestPriority, logical: true, destination: 0xFF, levelTriggered: false),
            .init(vector: 0x46, deliveryMode: nil, logical: false, destination: 0, levelTriggered: false),
        ])
    }

    // MARK: Level

    @Test("level: one message per assertion until EOI; EOI with the pin high re-delivers")
    func levelAndRemoteIRR() {
        route(10, low: Self.level | Self.activeLow | 0x41, destination: 1)
        ioapic.setPin(10, level: true)
        #expect(messages.values == [.init(vector: 0x41, deliveryMode: .fixed, logical: false, destination: 1, levelTriggered: true)])
        #expect(low(10) & Self.remoteIRR != 0)
        ioapic.setPin(10, level: true)
        ioapic.setPin(10, level: false)
        ioapic.setPin(10, level: true)
        #expect(messages.values.count == 1, "Remote IRR holds further messages")
        ioapic.endOfInterrupt(vector: 0x42)
        #expect(messages.values.count == 1, "another vector's EOI changes nothing")
        ioapic.endOfInterrupt(vector: 0x41)
        #expect(messages.values.count == 2, "still asserted: delivered again")
        #expect(low(10) & Self.remoteIRR != 0)
        ioapic.setPin(10, level: false)
        ioapic.endOfInterrupt(vector: 0x41)
        #expect(messages.values.count == 2)
        #expect(low(10) & Self.remoteIRR == 0)
        #expect(low(10) & Self.activeLow != 0, "polarity is kept")
    }

    @Test("level: unmasking an asserted pin delivers; masking holds it back")
    func levelUnmask() {
        route(16, low: Self.masked | Self.level | 0x50)
        ioapic.setPin(16, level: true)
        #expect(messages.values.isEmpty)
        #expect(low(16) & Self.remoteIRR == 0)
        route(16, low: Self.level | 0x50)
        #expect(messages.values.map(\.vector) == [0x50])
        #expect(low(16) & Self.remoteIRR != 0)
    }

    @Test("the EOI register (offset 0x40) clears Remote IRR like a broadcast EOI")
    func eoiRegister() {
        route(20, low: Self.level | 0x61)
        ioapic.setPin(20, level: true)
        ioapic.setPin(20, level: false)
        #expect(low(20) & Self.remoteIRR != 0)
        ioapic.write(offset: Self.eoi, size: 4, value: 0x61)
        #expect(low(20) & Self.remoteIRR == 0)
        ioapic.setPin(20, level: true)
        #expect(messages.values.count == 2)
    }

    @Test("Remote IRR cannot be written, and switching to edge clears it")
    func remoteIRRWrites() {
        route(7, low: Self.level | 0x70)
        ioapic.setPin(7, level: true)
        write(0x10 + 14, Self.level | 0x70)          // rewrite without bit 14
        #expect(low(7) & Self.remoteIRR != 0, "read-only: a write of 0 does not clear it")
        #expect(messages.values.count == 1, "no second message while Remote IRR is set")
        write(0x10 + 14, 0x70)                       // edge
        #expect(low(7) & Self.remoteIRR == 0)
        write(0x10 + 14, Self.level | 0x70)          // back to level, pin still high
        #expect(messages.values.count == 2)
    }

    @Test("byte reads of IOWIN return the selected register's bytes")
    func byteReads() {
        ioapic.write(offset: Self.select, size: 1, value: 0x01)
        #expect(ioapic.read(offset: Self.window, size: 1) & 0xFF == 0x20)
        #expect(ioapic.read(offset: Self.window + 2, size: 1) & 0xFF == 0x17)
    }
}

/// What a timer that owes ticks learns from the I/O APIC about an edge pin.
@Suite("IOAPIC edge acceptance")
struct IOAPICAcceptanceTests {
    let acknowledged = Recorder<Int>()
    let ioapic: IOAPIC

    init() {
        let acknowledged = acknowledged
        ioapic = IOAPIC(deliver: { _ in }, acknowledged: { acknowledged.append($0) })
    }

    func route(_ pin: Int, low: UInt32) {
        ioapic.write(offset: 0x00, size: 4, value: UInt64(0x10 + 2 * pin))
        ioapic.write(offset: 0x10, size: 4, value: UInt64(low))
    }

    func pulse(_ pin: Int) {
        ioapic.setPin(pin, level: true)
        ioapic.setPin(pin, level: false)
    }

    @Test("an edge is pending from delivery until its vector's EOI, which names the pin")
    func edgePendingUntilEndOfInterrupt() {
        #expect(ioapic.acceptance(pin: 2) == .masked, "reset: masked")
        route(2, low: 0x30)
        #expect(ioapic.acceptance(pin: 2) == .ready)
        pulse(2)
        #expect(ioapic.acceptance(pin: 2) == .pending)
        ioapic.edgeEndOfInterrupt(vector: 0x31)
        #expect(ioapic.acceptance(pin: 2) == .pending, "another vector's EOI")
        #expect(acknowledged.values.isEmpty)
        ioapic.edgeEndOfInterrupt(vector: 0x30)
        #expect(ioapic.acceptance(pin: 2) == .ready)
        #expect(acknowledged.values == [2])
        ioapic.edgeEndOfInterrupt(vector: 0x30)
        #expect(acknowledged.values == [2], "nothing left in flight")
    }

    @Test("reprogramming an entry forgets the edge in flight; a masked edge is never in flight")
    func reprogrammingAndMasking() {
        route(2, low: 0x30)
        pulse(2)
        route(2, low: 0x30)
        #expect(ioapic.acceptance(pin: 2) == .ready)
        route(2, low: 0x30 | 1 << 16)
        pulse(2)
        #expect(ioapic.acceptance(pin: 2) == .masked)
        route(2, low: 0x30)
        #expect(ioapic.acceptance(pin: 2) == .ready, "the masked edge was dropped, as on the 82093AA")
    }
}
