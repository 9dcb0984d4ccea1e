import SwiftVMMSupport

/// A National Semiconductor PC16550D UART as the PC wires it (COM1 at 0x3F8, IRQ 4).
/// Register numbers and bits from the PC16550D datasheet, Table II "Summary of Registers".
/// Transmitted bytes go to `sink` verbatim; received bytes come from `receive(_:)`.
///
/// Receiving is modelled as the chip sees it: a 16-byte receive FIFO (one holding register
/// with FIFOs off, as on a 16450), with an overrun (LSR.OE) when a byte arrives and there
/// is no room. Bytes from the host wait on the "line" (`receive`, up to `lineCapacity`)
/// and move into the FIFO as the guest makes room, as if the sender obeyed flow control,
/// so the host never overruns the guest; a guest looping its own output back (MCR.LOOP)
/// overruns exactly as the chip does.
public final class Serial16550: PortDevice {
    // MARK: Registers (offsets from the base port)
    enum Register {
        static let data: UInt16 = 0             // RBR (read) / THR (write); DLL when DLAB = 1
        static let interruptEnable: UInt16 = 1  // IER; DLM when DLAB = 1
        static let interruptIdentification: UInt16 = 2  // IIR (read) / FCR (write)
        static let lineControl: UInt16 = 3      // LCR
        static let modemControl: UInt16 = 4     // MCR
        static let lineStatus: UInt16 = 5       // LSR
        static let modemStatus: UInt16 = 6      // MSR
        static let scratch: UInt16 = 7          // SCR
    }

    /// IER bits.
    struct InterruptEnable: OptionSet, Codable {
        let rawValue: UInt8
        static let receivedData = InterruptEnable(rawValue: 1 << 0)        // ERBFI
        static let transmitterEmpty = InterruptEnable(rawValue: 1 << 1)    // ETBEI
        static let receiverLineStatus = InterruptEnable(rawValue: 1 << 2)  // ELSI
    }

    /// IIR bits 3:0, the interrupt identification (bit 0 clear = an interrupt is pending).
    enum Identification {
        static let none: UInt8 = 0x01
        static let transmitterEmpty: UInt8 = 0x02
        static let receivedData: UInt8 = 0x04
        static let receiverLineStatus: UInt8 = 0x06
    }
    /// IIR bits 7:6: set while FCR bit 0 enables the FIFOs.
    static let identificationFIFOsEnabled: UInt8 = 0b11 << 6

    /// LCR bit 7: divisor latch access.
    static let divisorLatchAccess: UInt8 = 1 << 7
    /// MCR bits: OUT2 gates the interrupt onto the ISA bus on PCs; LOOP loops THR to RBR.
    static let out2: UInt8 = 1 << 3, loopback: UInt8 = 1 << 4
    /// LSR bits: data ready, overrun error, transmitter holding register empty, transmitter empty.
    static let dataReady: UInt8 = 1 << 0, overrunError: UInt8 = 1 << 1
    static let holdingEmpty: UInt8 = 1 << 5, transmitterEmpty: UInt8 = 1 << 6
    /// MSR with nothing in loopback: carrier detect, data set ready, clear to send.
    static let modemStatusIdle: UInt8 = 0xB0
    /// FCR bits: FIFO enable, clear receive FIFO.
    static let fifoEnable: UInt8 = 1 << 0, clearReceive: UInt8 = 1 << 1
    /// The receive FIFO's depth with FIFOs enabled (FCR bit 0); 1 without (datasheet,
    /// "FIFO Interrupt Mode Operation").
    static let fifoDepth = 16
    /// Host bytes waiting on the line for room in the FIFO before `receive` refuses more.
    static let lineCapacity = 4096

    package struct State: Sendable, Equatable, Codable {
        var interruptEnable = InterruptEnable()
        var lineControl: UInt8 = 0x03           // 8N1
        var modemControl: UInt8 = 0
        var divisorLow: UInt8 = 0x0C            // 9600 baud
        var divisorHigh: UInt8 = 0
        var scratch: UInt8 = 0
        var fifoControl: UInt8 = 0
        /// What the guest reads from RBR, oldest first: at most `depth` bytes.
        var fifo: [UInt8] = []
        /// LSR.OE: a byte arrived with the FIFO full and was lost; cleared by reading LSR.
        var overrun = false
        /// Host bytes not yet in the FIFO (`line[lineHead...]`).
        var line: [UInt8] = []
        var lineHead = 0
        /// THRE interrupt pending: set when THR empties (or ETBEI is enabled while it is
        /// empty), cleared by reading IIR while it is the reported source or writing THR.
        var transmitterInterruptPending = false

        var hasData: Bool { !fifo.isEmpty }
        var depth: Int { fifoControl & Serial16550.fifoEnable != 0 ? Serial16550.fifoDepth : 1 }
        var loopback: Bool { modemControl & Serial16550.loopback != 0 }

        /// Queues host bytes on the line, up to `lineCapacity` waiting, and moves what fits
        /// into the FIFO; returns how many were taken (the sender keeps the rest). Bytes
        /// already moved are let go when the line is empty or a capacity's worth has piled
        /// up, so the line never holds more than twice the capacity and each byte is moved
        /// at most once on average.
        mutating func enqueue(_ bytes: ArraySlice<UInt8>) -> Int {
            if lineHead == line.count || lineHead >= Serial16550.lineCapacity {
                line.removeFirst(lineHead)
                lineHead = 0
            }
            let taken = bytes.prefix(max(Serial16550.lineCapacity - (line.count - lineHead), 0))
            line.append(contentsOf: taken)
            refill()
            return taken.count
        }

        /// Moves host bytes from the line into the FIFO while it has room. In loopback the
        /// serial input is disconnected from the line (datasheet, MCR bit 4), so they wait.
        mutating func refill() {
            while !loopback, fifo.count < depth, lineHead < line.count {
                fifo.append(line[lineHead])
                lineHead += 1
            }
        }

        /// A byte the guest sent to itself in loopback. With no room it is an overrun
        /// (LSR.OE, datasheet LSR bit 1): with FIFOs the new byte is lost and the FIFO kept;
        /// without, it overwrites the unread one in RBR.
        mutating func loopBack(_ byte: UInt8) {
            if fifo.count < depth {
                fifo.append(byte)
            } else {
                overrun = true
                if depth == 1 { fifo[0] = byte }
            }
        }

        var dlab: Bool { lineControl & Serial16550.divisorLatchAccess != 0 }

        var identification: UInt8 {
            let fifo = fifoControl & Serial16550.fifoEnable != 0 ? Serial16550.identificationFIFOsEnabled : 0
            // Priorities, highest first (datasheet Table IV): line status, received data, THRE.
            if interruptEnable.contains(.receiverLineStatus), overrun { return fifo | Identification.receiverLineStatus }
            if interruptEnable.contains(.receivedData), hasData { return fifo | Identification.receivedData }
            if interruptEnable.contains(.transmitterEmpty), transmitterInterruptPending {
                return fifo | Identification.transmitterEmpty
            }
            return fifo | Identification.none
        }

        var interruptLevel: Bool {
            identification & 1 == 0 && modemControl & Serial16550.out2 != 0
        }
    }

    let state = AnnotatedMutex(State())
    private let sink: any SerialSink
    private let irq: any InterruptLine

    public init(sink: any SerialSink, irq: any InterruptLine = DisconnectedLine()) {
        self.sink = sink
        self.irq = irq
    }

    /// Bytes from the outside world for the guest to read. Returns how many were taken
    /// (fewer than offered when `lineCapacity` bytes already wait for the guest).
    /// Not generic over `Collection`: called from another module, a generic method runs
    /// unspecialized, and its first call in a process cost 0.24 M instructions (a restore
    /// typing `--input`).
    @discardableResult
    public func receive(_ bytes: ArraySlice<UInt8>) -> Int {
        let level = state.withLock { state in
            (state.enqueue(bytes), state.interruptLevel)
        }
        irq.set(level.1)
        return level.0
    }

    @discardableResult
    public func receive(_ bytes: [UInt8]) -> Int { receive(bytes[...]) }

    public func read(offset: UInt16, size: Int) -> UInt32 {
        let (value, level) = state.withLock { state -> (UInt8, Bool) in
            let value: UInt8
            switch offset {
            case Register.data where state.dlab: value = state.divisorLow
            case Register.data:
                if state.hasData {
                    value = state.fifo.removeFirst()
                    state.refill()
                } else {
                    value = 0
                }
            case Register.interruptEnable where state.dlab: value = state.divisorHigh
            case Register.interruptEnable: value = state.interruptEnable.rawValue
            case Register.interruptIdentification:
                value = state.identification
                if value & 0x0F == Identification.transmitterEmpty { state.transmitterInterruptPending = false }
            case Register.lineControl: value = state.lineControl
            case Register.modemControl: value = state.modemControl
            case Register.lineStatus:
                value = (state.hasData ? Self.dataReady : 0) | (state.overrun ? Self.overrunError : 0)
                    | Self.holdingEmpty | Self.transmitterEmpty
                state.overrun = false
            case Register.modemStatus:
                value = state.loopback
                    ? Self.loopbackModemStatus(state.modemControl) : Self.modemStatusIdle
            case Register.scratch: value = state.scratch
            default: value = 0xFF
            }
            return (value, state.interruptLevel)
        }
        irq.set(level)
        return UInt32(value)
    }

    public func write(offset: UInt16, size: Int, value: UInt32) {
        let byte = UInt8(truncatingIfNeeded: value)
        let (transmit, level) = state.withLock { state -> (Bool, Bool) in
            var transmit = false
            switch offset {
            case Register.data where state.dlab: state.divisorLow = byte
            case Register.data:
                if state.loopback {
                    state.loopBack(byte)
                } else {
                    transmit = true
                }
                // The byte leaves at once, so THR is empty again and may interrupt.
                state.transmitterInterruptPending = true
            case Register.interruptEnable where state.dlab: state.divisorHigh = byte
            case Register.interruptEnable:
                let enable = InterruptEnable(rawValue: byte & 0x0F)
                if enable.contains(.transmitterEmpty), !state.interruptEnable.contains(.transmitterEmpty) {
                    state.transmitterInterruptPending = true
                }
                state.interruptEnable = enable
            case Register.interruptIdentification:
                // Turning the FIFOs on or off clears them, as FCR bit 1 does (datasheet, FCR
                // bits 0 and 1); bytes still on the line then come in.
                if byte & Self.clearReceive != 0 || (byte ^ state.fifoControl) & Self.fifoEnable != 0 {
                    state.fifo.removeAll(keepingCapacity: true)
                }
                state.fifoControl = byte
                state.refill()
            case Register.lineControl: state.lineControl = byte
            case Register.modemControl:
                state.modemControl = byte & 0x1F
                state.refill()
            case Register.scratch: state.scratch = byte
            default: break
            }
            return (transmit, state.interruptLevel)
        }
        if transmit { sink.write(byte) }
        irq.set(level)
    }

    /// MSR in loopback mode: CTS = RTS, DSR = DTR, RI = OUT1, DCD = OUT2 (datasheet, MCR bit 4).
    private static func loopbackModemStatus(_ modemControl: UInt8) -> UInt8 {
        let rts = modemControl >> 1 & 1, dtr = modemControl & 1
        let out1 = modemControl >> 2 & 1, out2 = modemControl >> 3 & 1
        return (rts << 4) | (dtr << 5) | (out1 << 6) | (out2 << 7)
    }
}
