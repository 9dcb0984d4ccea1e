import Foundation
import Testing
@testable import SwiftVMM
@testable import SwiftVMMDevices

/// The UART's snapshot: taken with received bytes in the FIFO and on the line and an
/// interrupt pending, restored into a new UART, which then reads, interrupts and receives
/// as the original does.
@Suite("Serial16550 snapshot")
struct Serial16550SnapshotTests {
    let sink = RecordingSink()
    let irq = RecordingLine()
    let uart: Serial16550

    init() {
        uart = Serial16550(sink: sink, irq: irq)
        drive()
    }

    // Register offsets (PC16550D Table II).
    static let data: UInt16 = 0, ier: UInt16 = 1, iir: UInt16 = 2, fcr: UInt16 = 2, lcr: UInt16 = 3
    static let mcr: UInt16 = 4, lsr: UInt16 = 5, msr: UInt16 = 6, scratch: UInt16 = 7

    static func read(_ uart: Serial16550, _ register: UInt16) -> UInt8 { UInt8(uart.read(offset: register, size: 1)) }
    static func write(_ uart: Serial16550, _ register: UInt16, _ value: UInt8) {
        uart.write(offset: register, size: 1, value: UInt32(value))
    }

    static let received = Array("0123456789abcdefghij".utf8)

    /// 115200 baud (divisor 1), 8E1, all three interrupts enabled, FIFOs on, DTR, RTS and
    /// OUT2, scratch 0x5A; "ok" sent; 20 bytes received, of which the guest read 2, so the
    /// FIFO holds 16 and 2 wait on the line; received data and THRE interrupts pending.
    func drive() {
        Self.write(uart, Self.lcr, 0x80)
        Self.write(uart, Self.data, 0x01)
        Self.write(uart, Self.ier, 0x00)
        Self.write(uart, Self.lcr, 0x1B)
        Self.write(uart, Self.ier, 0x07)
        Self.write(uart, Self.fcr, 0x01)
        Self.write(uart, Self.mcr, 0x0B)
        Self.write(uart, Self.scratch, 0x5A)
        for byte in "ok".utf8 { Self.write(uart, Self.data, byte) }
        #expect(uart.receive(Self.received) == 20)
        #expect(Self.read(uart, Self.data) == UInt8(ascii: "0"))
        #expect(Self.read(uart, Self.data) == UInt8(ascii: "1"))
    }

    /// IER, IIR, LCR, MCR, LSR, MSR, SCR, then DLL and DLM through DLAB.
    static func registers(_ uart: Serial16550) -> [UInt8] {
        var values = [ier, iir, lcr, mcr, lsr, msr, scratch].map { read(uart, $0) }
        write(uart, lcr, values[2] | 0x80)
        values += [read(uart, data), read(uart, ier)]
        write(uart, lcr, values[2])
        return values
    }

    /// Reads RBR while LSR says data is ready.
    static func drain(_ uart: Serial16550) -> [UInt8] {
        var bytes: [UInt8] = []
        while read(uart, lsr) & 1 != 0 { bytes.append(read(uart, data)) }
        return bytes
    }

    @Test("restored: the same registers, the same bytes to read, the same interrupts; restore drives nothing")
    func roundTrip() {
        let snapshot = uart.snapshot()
        #expect(snapshot.fifo == Array(Self.received[2..<18]) && snapshot.line == Array("ij".utf8) && snapshot.lineHead == 0,
                "the line without the bytes already moved into the FIFO")
        let sentBefore = irq.levels.count
        let restoredSink = RecordingSink(), restoredIRQ = RecordingLine()
        let restored = Serial16550(sink: restoredSink, irq: restoredIRQ)
        restored.restore(snapshot)
        #expect(restoredIRQ.levels.isEmpty, "restore drives no IRQ level")
        #expect(restored.snapshot() == snapshot)

        let registers = Self.registers(restored)
        #expect(registers == Self.registers(uart))
        #expect(registers == [0x07, 0xC4, 0x1B, 0x0B, 0x61, 0xB0, 0x5A, 0x01, 0x00])
        #expect(restoredIRQ.level, "received data pending, OUT2 set")

        let more = [UInt8](repeating: 0x55, count: Serial16550.lineCapacity)
        #expect(restored.receive(more) == Serial16550.lineCapacity - 2, "2 bytes still wait on the line")
        #expect(uart.receive(more) == Serial16550.lineCapacity - 2)
        let expected = Array(Self.received[2...]) + more.dropLast(2)
        #expect(Self.drain(restored) == expected)
        #expect(Self.drain(uart) == expected)
        for device in [uart, restored] {
            #expect(Self.read(device, Self.iir) == 0xC2, "THRE from before the snapshot")
            #expect(Self.read(device, Self.iir) == 0xC1)
            Self.write(device, Self.data, UInt8(ascii: "!"))
        }
        #expect(restoredSink.bytes == [UInt8(ascii: "!")], "what was sent before the snapshot is gone")
        #expect(sink.bytes == Array("ok!".utf8))
        #expect(restoredIRQ.levels == Array(irq.levels[sentBefore...]))
        #expect(restoredIRQ.levels.first == true && restoredIRQ.level, "THRE again after the last write")
    }

    @Test("a snapshot survives JSON unchanged")
    func codable() throws {
        let snapshot = uart.snapshot()
        let decoded = try JSONDecoder().decode(Serial16550.Snapshot.self, from: JSONEncoder().encode(snapshot))
        #expect(decoded == snapshot)
        #expect(decoded != Serial16550(sink: NullSink()).snapshot())
        #expect(decoded.interruptEnable == [.receivedData, .transmitterEmpty, .receiverLineStatus])
        #expect(decoded.divisorLow == 0x01 && decoded.lineControl == 0x1B && decoded.fifoControl == 0x01)
        #expect(decoded.fifo == Array(Self.received[2..<18]) && decoded.line == Array("ij".utf8))
        #expect(decoded.transmitterInterruptPending)
    }
}
