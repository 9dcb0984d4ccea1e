import Testing
@testable import SwiftVMM
@testable import SwiftVMMPlatform
@testable import SwiftVMMDevices

@Suite("Serial16550")
struct Serial16550Tests {
    let sink = RecordingSink()
    let irq = RecordingLine()
    let uart: Serial16550

    init() { uart = Serial16550(sink: sink, irq: irq) }

    // Register offsets (PC16550D Table II).
    static let data: UInt16 = 0, ier: UInt16 = 1, iir: UInt16 = 2, fcr: UInt16 = 2, lcr: UInt16 = 3
    static let mcr: UInt16 = 4, lsr: UInt16 = 5, msr: UInt16 = 6, scratch: UInt16 = 7

    func read(_ register: UInt16) -> UInt8 { UInt8(uart.read(offset: register, size: 1)) }
    func write(_ register: UInt16, _ value: UInt8) { uart.write(offset: register, size: 1, value: UInt32(value)) }
    func send(_ text: String) { for byte in text.utf8 { write(Self.data, byte) } }

    // MARK: Transmit

    @Test("THR writes reach the sink verbatim, newlines untranslated")
    func transmit() {
        send("hi\n\r\n")
        write(Self.data, 0x00)
        write(Self.data, 0xFF)
        #expect(sink.bytes == [0x68, 0x69, 0x0A, 0x0D, 0x0A, 0x00, 0xFF])
    }

    @Test("LSR: THRE and TEMT always set, DR clear when nothing was received")
    func lineStatusIdle() {
        #expect(read(Self.lsr) == 0x60)
        send("x")
        #expect(read(Self.lsr) == 0x60)
    }

    // MARK: Receive

    @Test("received bytes set DR and are read from RBR in order")
    func receive() {
        #expect(uart.receive(Array("ab\n".utf8)) == 3)
        #expect(read(Self.lsr) == 0x61)
        #expect(read(Self.data) == 0x61)
        #expect(read(Self.data) == 0x62)
        #expect(read(Self.lsr) & 1 == 1)
        #expect(read(Self.data) == 0x0A)
        #expect(read(Self.lsr) == 0x60)
        #expect(read(Self.data) == 0)
        #expect(uart.receive([0x31]) == 1)
        #expect(read(Self.data) == 0x31)
    }

    @Test("the line holds at most 4096 host bytes beyond what the receiver holds")
    func lineCapacity() {
        #expect(uart.receive([UInt8](repeating: 0x41, count: 5000)) == 4096)
        #expect(uart.receive([0x42]) == 1, "one byte went on into RBR, so one more fits")
        #expect(uart.receive([0x42]) == 0)
        #expect(read(Self.data) == 0x41)
        #expect(uart.receive([0x42, 0x43]) == 1)
    }

    @Test("host bytes never overrun: they wait on the line and come in as the guest reads")
    func hostInputIsFlowControlled() {
        write(Self.fcr, 0x01)
        #expect(uart.receive(Array(0..<40)) == 40)
        for expected in 0..<40 {
            #expect(read(Self.lsr) == 0x61, "DR, never OE")
            #expect(read(Self.data) == UInt8(expected))
        }
        #expect(read(Self.lsr) == 0x60)
    }

    @Test("FCR bit 1 clears the FIFO; bytes still on the line come in after")
    func clearReceive() {
        write(Self.fcr, 0x01)
        uart.receive(Array(0..<20))
        write(Self.fcr, 0x03)
        #expect(read(Self.data) == 16, "the 16 bytes in the FIFO are gone")
        #expect(read(Self.data) == 17)
        write(Self.fcr, 0x00)              // FIFOs off: cleared too (18 and 19 with them)
        #expect(read(Self.lsr) & 1 == 0)
        uart.receive([0x7A])
        #expect(read(Self.data) == 0x7A)
    }

    @Test("FCR bit 0 shows FIFOs enabled in IIR bits 7:6")
    func fifoEnabled() {
        #expect(read(Self.iir) == 0x01)
        write(Self.fcr, 0x01)
        #expect(read(Self.iir) == 0xC1)
        write(Self.fcr, 0x00)
        #expect(read(Self.iir) == 0x01)
    }

    // MARK: Registers

    @Test("DLAB switches offsets 0 and 1 to the divisor latch")
    func divisorLatch() {
        write(Self.ier, 0x01)
        write(Self.lcr, 0x83)
        #expect(read(Self.data) == 0x0C)   // 9600 baud at reset
        #expect(read(Self.ier) == 0x00)
        write(Self.data, 0x01)             // 115200 baud
        write(Self.ier, 0x00)
        #expect(read(Self.data) == 0x01)
        #expect(read(Self.ier) == 0x00)
        #expect(sink.bytes.isEmpty)
        write(Self.ier, 0x02)
        #expect(read(Self.ier) == 0x02)
        write(Self.lcr, 0x03)
        #expect(read(Self.lcr) == 0x03)
        #expect(read(Self.ier) == 0x01, "IER kept its value while DLAB was set")
        send("z")
        #expect(sink.bytes == [0x7A])
        // Back in the latch, the divisor is still there.
        write(Self.lcr, 0x83)
        #expect(read(Self.data) == 0x01)
        #expect(read(Self.ier) == 0x02)
    }

    @Test("LCR resets to 8N1 and reads back what was written")
    func lineControl() {
        #expect(read(Self.lcr) == 0x03)
        write(Self.lcr, 0x1B)
        #expect(read(Self.lcr) == 0x1B)
    }

    @Test("scratch register holds a byte")
    func scratch() {
        #expect(read(Self.scratch) == 0)
        write(Self.scratch, 0xA5)
        #expect(read(Self.scratch) == 0xA5)
        write(Self.scratch, 0x5A)
        #expect(read(Self.scratch) == 0x5A)
    }

    @Test("MCR keeps its five bits; MSR is idle with DCD, DSR and CTS")
    func modemControlAndStatus() {
        write(Self.mcr, 0xFF)
        #expect(read(Self.mcr) == 0x1F)
        write(Self.mcr, 0x0B)
        #expect(read(Self.mcr) == 0x0B)
        #expect(read(Self.msr) == 0xB0)
    }

    @Test("IER keeps only its low four bits")
    func interruptEnableBits() {
        write(Self.ier, 0xFF)
        #expect(read(Self.ier) == 0x0F)
    }

    // MARK: Interrupts

    @Test("THRE interrupt: enabling ETBEI makes it pending, reading IIR clears it, writing THR sets it again")
    func transmitterInterrupt() {
        #expect(read(Self.iir) == 0x01)
        write(Self.ier, 0x02)
        #expect(read(Self.iir) == 0x02)
        #expect(read(Self.iir) == 0x01)
        send("a")
        #expect(read(Self.iir) == 0x02)
        #expect(read(Self.iir) == 0x01)
        // Rewriting IER with ETBEI still set does not raise it again.
        write(Self.ier, 0x02)
        #expect(read(Self.iir) == 0x01)
        // Disabling and enabling does.
        write(Self.ier, 0x00)
        write(Self.ier, 0x02)
        #expect(read(Self.iir) == 0x02)
    }

    @Test("THRE is not reported while ETBEI is off")
    func transmitterInterruptDisabled() {
        send("abc")
        #expect(read(Self.iir) == 0x01)
    }

    @Test("received data interrupt while ERBFI is set, cleared by reading RBR")
    func receiveInterrupt() {
        write(Self.ier, 0x01)
        #expect(read(Self.iir) == 0x01)
        uart.receive([0x55, 0x56])
        #expect(read(Self.iir) == 0x04)
        #expect(read(Self.iir) == 0x04, "reading IIR does not clear a data interrupt")
        #expect(read(Self.data) == 0x55)
        #expect(read(Self.iir) == 0x04)
        #expect(read(Self.data) == 0x56)
        #expect(read(Self.iir) == 0x01)
    }

    @Test("received data has priority over THRE; THRE survives the IIR read that reported data")
    func interruptPriority() {
        write(Self.ier, 0x03)
        uart.receive([0x01])
        #expect(read(Self.iir) == 0x04)
        _ = read(Self.data)
        #expect(read(Self.iir) == 0x02)
        #expect(read(Self.iir) == 0x01)
    }

    @Test("the IRQ line is asserted only when MCR.OUT2 is set")
    func out2GatesIRQ() {
        write(Self.ier, 0x01)
        uart.receive([0x41])
        #expect(irq.levels.allSatisfy { !$0 }, "asserted without OUT2")
        write(Self.mcr, 0x08)
        #expect(irq.level)
        write(Self.mcr, 0x03)              // DTR | RTS, no OUT2
        #expect(!irq.level)
        write(Self.mcr, 0x0B)
        #expect(irq.level)
        _ = read(Self.data)
        #expect(!irq.level)
    }

    @Test("THRE interrupt on the IRQ line: raised by ETBEI with OUT2, lowered by reading IIR")
    func transmitterIRQ() {
        write(Self.mcr, 0x08)
        #expect(!irq.level)
        write(Self.ier, 0x02)
        #expect(irq.level)
        _ = read(Self.iir)
        #expect(!irq.level)
        send("x")
        #expect(irq.level)
    }

    @Test("receiving data raises the IRQ line at once")
    func receiveRaisesIRQ() {
        write(Self.mcr, 0x08)
        write(Self.ier, 0x01)
        #expect(!irq.level)
        uart.receive([0x20])
        #expect(irq.level)
    }

    // MARK: Loopback

    @Test("loopback mode echoes THR to RBR and not to the sink")
    func loopback() {
        write(Self.fcr, 0x01)
        write(Self.mcr, 0x10)
        send("ok")
        #expect(sink.bytes.isEmpty)
        #expect(read(Self.lsr) == 0x61)
        #expect(read(Self.data) == 0x6F)
        #expect(read(Self.data) == 0x6B)
        #expect(read(Self.lsr) == 0x60)
        write(Self.mcr, 0x00)
        send("!")
        #expect(sink.bytes == [0x21])
        #expect(read(Self.lsr) == 0x60)
    }

    @Test("loopback into a full 16-byte FIFO is an overrun: LSR.OE, the new byte lost, for as long as the guest goes on")
    func loopbackOverrunsTheFIFO() {
        write(Self.fcr, 0x01)
        write(Self.mcr, 0x10)
        for i in 0..<100_000 { write(Self.data, UInt8(truncatingIfNeeded: i)) }
        #expect(read(Self.lsr) == 0x63, "DR and OE")
        #expect(read(Self.lsr) == 0x61, "reading LSR cleared OE")
        for expected in 0..<Serial16550.fifoDepth { #expect(read(Self.data) == UInt8(expected)) }
        #expect(read(Self.lsr) == 0x60)
        send("ab")
        #expect(read(Self.data) == 0x61)
        #expect(read(Self.data) == 0x62)
    }

    @Test("without FIFOs (16450 mode) a looped-back byte overwrites the unread one in RBR")
    func loopbackOverrunWithoutFIFO() {
        write(Self.mcr, 0x10)
        send("xyz")
        #expect(read(Self.lsr) == 0x63)
        #expect(read(Self.data) == 0x7A)
        #expect(read(Self.lsr) == 0x60)
    }

    @Test("in loopback the line is disconnected: host bytes wait and arrive after it")
    func hostBytesWaitDuringLoopback() {
        write(Self.mcr, 0x10)
        #expect(uart.receive(Array("hi".utf8)) == 2)
        #expect(read(Self.lsr) & 1 == 0)
        send("L")
        #expect(read(Self.data) == 0x4C)
        write(Self.mcr, 0x00)
        #expect(read(Self.data) == 0x68)
        #expect(read(Self.data) == 0x69)
    }

    @Test("an overrun with ELSI raises the line status interrupt, first in priority, until LSR is read")
    func lineStatusInterrupt() {
        write(Self.ier, 0x05)
        write(Self.mcr, 0x18)
        send("ab")
        #expect(read(Self.iir) == 0x06)
        #expect(irq.level)
        _ = read(Self.lsr)
        #expect(read(Self.iir) == 0x04, "received data next")
    }

    @Test("a guest that reads all but the last byte, forever, keeps the line bounded")
    func lineNeverDrainedStaysBounded() {
        var state = Serial16550.State()
        #expect(state.enqueue([0]) == 1)
        for i in 1...(5 * Serial16550.lineCapacity) {
            #expect(state.enqueue([UInt8(truncatingIfNeeded: i)]) == 1)
            #expect(state.fifo.removeFirst() == UInt8(truncatingIfNeeded: i - 1), "FIFO order")   // the guest reads RBR
            state.refill()
            #expect(state.line.count <= 2 * Serial16550.lineCapacity)
        }
        #expect(state.fifo.count == 1)
    }

    @Test("loopback with ERBFI and OUT2 raises the receive interrupt")
    func loopbackInterrupt() {
        write(Self.ier, 0x01)
        write(Self.mcr, 0x18)
        send("q")
        #expect(read(Self.iir) == 0x04)
        #expect(irq.level)
    }

    @Test("loopback MSR: CTS = RTS, DSR = DTR, RI = OUT1, DCD = OUT2")
    func loopbackModemStatus() {
        write(Self.mcr, 0x10)
        #expect(read(Self.msr) == 0x00)
        write(Self.mcr, 0x12)
        #expect(read(Self.msr) == 0x10)
        write(Self.mcr, 0x11)
        #expect(read(Self.msr) == 0x20)
        write(Self.mcr, 0x14)
        #expect(read(Self.msr) == 0x40)
        write(Self.mcr, 0x18)
        #expect(read(Self.msr) == 0x80)
        write(Self.mcr, 0x1F)
        #expect(read(Self.msr) == 0xF0)
    }

    @Test("on the port bus at COM1")
    func onBus() throws {
        let bus = PortBus()
        try bus.place(uart, at: UInt64(Layout.com1), count: 8)
        for byte in "ok\n".utf8 { bus.write(port: 0x3F8, size: 1, value: UInt32(byte)) }
        #expect(sink.bytes == Array("ok\n".utf8))
        #expect(bus.read(port: 0x3FD, size: 1) == 0x60)
        #expect(bus.read(port: 0x3FF, size: 1) == 0)
    }
}
