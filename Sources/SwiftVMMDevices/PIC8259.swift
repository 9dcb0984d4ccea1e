import Synchronization
import SwiftVMMSupport

/// The PC/AT's two Intel 8259A programmable interrupt controllers, cascaded: the slave's INT
/// output drives the master's IR2, ISA IRQ 8–15 reach the slave's IR0–7, and the master's
/// INT goes to the boot processor's LINT0 (ExtINT). Register behaviour from the Intel 8259A
/// datasheet (order 231468), "Programming the 8259A" (ICW1–ICW4, OCW1–OCW3); the edge/level
/// control registers (ELCR) at ports 0x4D0/0x4D1 from the Intel PIIX4 datasheet §12.6.
///
/// One lock covers both chips, because an INTA cycle (`acknowledge()`) involves both.
/// The bus places three port ranges: `master` (2 ports, 0x20), `slave` (2 ports, 0xA0) and
/// `elcr` (2 ports, 0x4D0).
///
/// Documented choices:
/// - Power-on state is what a PC BIOS leaves (the datasheet leaves it undefined until ICW1):
///   master vectors 0x08–0x0F, slave 0x70–0x77, cascade on IR2, 8086 mode, all IRQs masked.
/// - The slave's INT drives the master's IR2 like any input (edge-triggered unless the
///   master is in LTIM mode): the slave drops INT when its request goes into service and
///   raises it again for the next one, which gives the master a new edge.
/// - ISA IRQ 2 does not exist on a PC/AT (the pin carries the cascade); `setIRQ(2, …)` is
///   ignored. Devices the XT wired to IRQ 2 appear as IRQ 9.
/// - Edge-triggered inputs latch IRR on a rising edge and keep it until INTA, so a device
///   may pulse its line (set(true), set(false)). Level-triggered inputs (ELCR bit or ICW1
///   LTIM) make IRR follow the line, so a request withdrawn before INTA gives the spurious
///   vector of IR7 (IRQ 7 or IRQ 15).
public final class PIC8259Pair: ExternalInterruptController {
    // MARK: Registers (offsets from each chip's base; A0 is the offset)

    /// Datasheet "Programming the 8259A": A0 = 0 takes ICW1, OCW2, OCW3 and reads IRR, ISR
    /// or the poll word; A0 = 1 takes ICW2–ICW4 during initialization and OCW1 (IMR) after.
    enum Register {
        static let command: UInt16 = 0
        static let data: UInt16 = 1
    }

    /// ICW1 (A0 = 0, D4 = 1), datasheet Figure 7.
    struct ICW1: OptionSet, Codable {
        let rawValue: UInt8
        static let ic4 = ICW1(rawValue: 1 << 0)     // ICW4 needed
        static let sngl = ICW1(rawValue: 1 << 1)    // single chip, no ICW3
        static let adi = ICW1(rawValue: 1 << 2)     // call address interval (8080 only; ignored)
        static let ltim = ICW1(rawValue: 1 << 3)    // level triggered mode, all inputs
        static let marker = ICW1(rawValue: 1 << 4)  // D4 = 1 identifies ICW1
    }

    /// ICW4, datasheet Figure 7.
    struct ICW4: OptionSet, Codable {
        let rawValue: UInt8
        static let microprocessorMode = ICW4(rawValue: 1 << 0)  // µPM: 8086 (1) / 8080 (0)
        static let aeoi = ICW4(rawValue: 1 << 1)                // automatic end of interrupt
        static let masterSelect = ICW4(rawValue: 1 << 2)        // M/S (buffered mode only)
        static let buffered = ICW4(rawValue: 1 << 3)            // BUF
        static let sfnm = ICW4(rawValue: 1 << 4)                // special fully nested mode
    }

    /// OCW2 (A0 = 0, D4:D3 = 00): R, SL, EOI in bits 7:5, level L2–L0 in bits 2:0 (Figure 8).
    enum OCW2: UInt8 {
        case rotateInAEOIClear = 0b000
        case nonSpecificEOI = 0b001
        case noOperation = 0b010
        case specificEOI = 0b011
        case rotateInAEOISet = 0b100
        case rotateOnNonSpecificEOI = 0b101
        case setPriority = 0b110
        case rotateOnSpecificEOI = 0b111
    }

    /// OCW3 (A0 = 0, D4:D3 = 01), Figure 8.
    struct OCW3: OptionSet {
        let rawValue: UInt8
        static let ris = OCW3(rawValue: 1 << 0)     // read ISR (1) / IRR (0), when RR = 1
        static let rr = OCW3(rawValue: 1 << 1)      // read register command
        static let poll = OCW3(rawValue: 1 << 2)    // P: poll command
        static let marker = OCW3(rawValue: 1 << 3)  // D3 = 1 identifies OCW3
        static let smm = OCW3(rawValue: 1 << 5)     // special mask mode (1 set / 0 reset), when ESMM = 1
        static let esmm = OCW3(rawValue: 1 << 6)    // enable special mask mode command
    }

    /// The master input the slave's INT drives on a PC/AT (ICW3 0x04 master, ID 2 slave).
    static let cascadeInput = 2
    /// Poll word bit 7: an interrupt was pending (datasheet "The Poll Command").
    static let pollInterrupt: UInt8 = 0x80
    /// ELCR bits that may be set (PIIX4 §12.6.1/2: IRQ 0, 1, 2, 8 and 13 are edge-only).
    static let elcrWritable: [UInt8] = [0xF8, 0xDE]

    /// Raw values, so that a snapshot holds the step as one string: an enum without them is
    /// encoded through five keyed containers, each costing a restore a conformance scan of
    /// the whole binary in the Swift runtime (callgrind, BENCHMARKS.md section 9).
    enum InitStep: String, Codable { case ready, icw2, icw3, icw4 }

    /// One 8259A: one field per register, plus the command state OCW2/OCW3 leave behind.
    struct Chip: Equatable, Codable {
        var interruptRequest: UInt8 = 0     // IRR
        var inService: UInt8 = 0            // ISR
        var interruptMask: UInt8 = 0xFF     // IMR (OCW1)
        var vectorBase: UInt8               // ICW2 T7–T3
        var icw1: ICW1 = [.ic4, .marker]
        var icw3: UInt8
        var icw4: ICW4 = [.microprocessorMode]
        var edgeLevel: UInt8 = 0            // ELCR: 1 = level triggered
        var initStep = InitStep.ready
        var readInService = false           // OCW3 RR/RIS: what A0 = 0 reads return
        var pollPending = false             // OCW3 P: the next A0 = 0 read is the poll word
        var specialMask = false             // OCW3 SMM
        var rotateInAutoEOI = false         // OCW2 R with EOI = 0
        /// The IR level with the lowest priority; IR(lowest + 1) has the highest (rotation).
        var lowestPriority: UInt8 = 7
        /// The levels on the IR pins, for edge detection and level-triggered IRR.
        var inputs: UInt8 = 0

        var autoEOI: Bool { icw4.contains(.aeoi) }
        var levelTriggered: UInt8 { icw1.contains(.ltim) ? 0xFF : edgeLevel }

        mutating func setInput(_ pin: Int, _ level: Bool) {
            let bit: UInt8 = 1 << pin
            if level {
                if levelTriggered & bit != 0 || inputs & bit == 0 { interruptRequest |= bit }
                inputs |= bit
            } else {
                inputs &= ~bit
                if levelTriggered & bit != 0 { interruptRequest &= ~bit }
            }
        }

        /// The IR with the highest priority among `bits`, under the current rotation.
        func highest(_ bits: UInt8) -> Int? {
            for step in 1...8 {
                let irq = Int(lowestPriority &+ UInt8(step)) & 7
                if bits & 1 << irq != 0 { return irq }
            }
            return nil
        }

        /// 0 is the highest priority.
        func priority(_ irq: Int) -> Int { (irq - Int(lowestPriority) - 1) & 7 }

        /// The request INT signals: the highest-priority unmasked IRR bit, if it outranks
        /// everything in service. In special mask mode, masked levels in service do not
        /// block; in special fully nested mode the cascade input in service does not block
        /// the slave (datasheet "Special Fully Nested Mode", master only).
        func pendingRequest(isMaster: Bool) -> Int? {
            guard let request = highest(interruptRequest & ~interruptMask) else { return nil }
            var blocking = inService
            if specialMask { blocking &= ~interruptMask }
            if isMaster, icw4.contains(.sfnm) { blocking &= ~UInt8(1 << PIC8259Pair.cascadeInput) }
            if let served = highest(blocking), priority(served) <= priority(request) { return nil }
            return request
        }

        /// INTA (or a poll) for `irq`: IRR → ISR, or straight through with automatic EOI.
        mutating func accept(_ irq: Int) {
            let bit: UInt8 = 1 << irq
            if levelTriggered & bit == 0 { interruptRequest &= ~bit }
            if autoEOI {
                if rotateInAutoEOI { lowestPriority = UInt8(irq) }
            } else {
                inService |= bit
            }
        }

        /// ICW1: datasheet "Initialization Command Words" a–f: edge sense reset, IMR
        /// cleared, IR7 lowest priority, special mask mode off, status read set to IRR,
        /// ICW4 functions zeroed when IC4 = 0. (ISR and latched requests are cleared too.)
        mutating func beginInitialization(_ value: UInt8) {
            icw1 = ICW1(rawValue: value)
            interruptMask = 0
            inService = 0
            interruptRequest = levelTriggered & inputs
            lowestPriority = 7
            specialMask = false
            readInService = false
            pollPending = false
            rotateInAutoEOI = false
            if !icw1.contains(.ic4) { icw4 = [] }
            initStep = .icw2
        }

        mutating func writeData(_ value: UInt8) {
            switch initStep {
            case .icw2:
                vectorBase = value & 0xF8
                initStep = !icw1.contains(.sngl) ? .icw3 : icw1.contains(.ic4) ? .icw4 : .ready
            case .icw3:
                icw3 = value
                initStep = icw1.contains(.ic4) ? .icw4 : .ready
            case .icw4:
                icw4 = ICW4(rawValue: value & 0x1F)
                initStep = .ready
            case .ready:
                interruptMask = value
            }
        }

        mutating func writeCommand(_ value: UInt8) {
            if value & ICW1.marker.rawValue != 0 {
                beginInitialization(value)
            } else if value & OCW3.marker.rawValue != 0 {
                let ocw3 = OCW3(rawValue: value)
                if ocw3.contains(.poll) { pollPending = true }
                if ocw3.contains(.rr) { readInService = ocw3.contains(.ris) }
                if ocw3.contains(.esmm) { specialMask = ocw3.contains(.smm) }
            } else {
                let level = value & 7
                switch OCW2(rawValue: value >> 5)! {
                case .rotateInAEOIClear: rotateInAutoEOI = false
                case .rotateInAEOISet: rotateInAutoEOI = true
                case .nonSpecificEOI, .rotateOnNonSpecificEOI:
                    guard let irq = highest(inService) else { break }
                    inService &= ~(1 << irq)
                    if value >> 5 == OCW2.rotateOnNonSpecificEOI.rawValue { lowestPriority = UInt8(irq) }
                case .specificEOI:
                    inService &= ~(1 << level)
                case .rotateOnSpecificEOI:
                    inService &= ~(1 << level)
                    lowestPriority = level
                case .setPriority:
                    lowestPriority = level
                case .noOperation: break
                }
            }
        }

        /// A0 = 0 read: the poll word if a poll is pending (which acts as INTA), else IRR or ISR.
        mutating func readCommand(isMaster: Bool) -> UInt8 {
            guard pollPending else { return readInService ? inService : interruptRequest }
            pollPending = false
            guard let irq = pendingRequest(isMaster: isMaster) else { return 0 }
            accept(irq)
            return PIC8259Pair.pollInterrupt | UInt8(irq)
        }
    }

    package struct State: Sendable, Equatable, Codable {
        var master = Chip(vectorBase: 0x08, icw3: 1 << PIC8259Pair.cascadeInput)
        var slave = Chip(vectorBase: 0x70, icw3: UInt8(PIC8259Pair.cascadeInput))
        /// The INT level last sent to `output`.
        var publishedOutput = false

        /// Whether the master's IR2 leads to the slave (ICW3 bit 2 in cascade mode).
        var cascaded: Bool {
            !master.icw1.contains(.sngl) && master.icw3 & 1 << PIC8259Pair.cascadeInput != 0
        }

        /// Feeds the slave's INT into the master's IR2 and returns the master's INT.
        mutating func updateInterrupt() -> Bool {
            master.setInput(PIC8259Pair.cascadeInput, slave.pendingRequest(isMaster: false) != nil)
            return master.pendingRequest(isMaster: true) != nil
        }
    }

    let state = AnnotatedMutex(State())
    private let output: any InterruptLine
    /// INT as last computed under the lock, for `hasInterrupt`: the BSP asks on every exit
    /// while LINT0 is in virtual-wire mode, and an atomic load costs less than the lock.
    let intPin = Atomic<Bool>(false)

    /// Told the IRQ (0–15) each INTA cycle took, after the lock is released (a timer that
    /// owes ticks sends the next one then).
    private let acknowledged: @Sendable (Int) -> Void

    /// `output` is the master's INT pin (to the BSP's LINT0, or to I/O APIC pin 0 as ExtINT);
    /// `acknowledged` hears of each IRQ an INTA cycle takes.
    public init(output: any InterruptLine = DisconnectedLine(), acknowledged: @escaping @Sendable (Int) -> Void = { _ in }) {
        self.output = output
        self.acknowledged = acknowledged
    }

    // MARK: Inputs and INTA

    /// Sets ISA IRQ `line` (0–15) to `level`. Edge-triggered IRQs latch on a rising edge;
    /// level-triggered IRQs (ELCR) request while the line is high.
    public func setIRQ(_ line: Int, level: Bool) {
        guard (0..<16).contains(line), line != Self.cascadeInput else { return }
        access { state in
            if line < 8 { state.master.setInput(line, level) } else { state.slave.setInput(line - 8, level) }
        }
    }

    /// The master's INT pin: an interrupt is waiting for INTA.
    public var hasInterrupt: Bool {
        intPin.load(ordering: .acquiring)
    }

    /// The INTA cycle: returns the vector (ICW2 base + IR) of the highest-priority request
    /// and moves it from IRR to ISR (or not, with automatic EOI); a request on the cascade
    /// input is passed to the slave. With no request left, the spurious vector of IR7 on the
    /// chip concerned (datasheet "Interrupt Sequence": the master's ISR bit 2 stays set when
    /// the slave's request vanished, as on real hardware).
    public func acknowledge() -> UInt8 {
        let (vector, irq) = access { state -> (UInt8, Int?) in
            guard let irq = state.master.pendingRequest(isMaster: true) else { return (state.master.vectorBase | 7, nil) }
            state.master.accept(irq)
            guard irq == Self.cascadeInput, state.cascaded else { return (state.master.vectorBase | UInt8(irq), irq) }
            guard let slaveIRQ = state.slave.pendingRequest(isMaster: false) else { return (state.slave.vectorBase | 7, nil) }
            state.slave.accept(slaveIRQ)
            return (state.slave.vectorBase | UInt8(slaveIRQ), 8 + slaveIRQ)
        }
        if let irq { acknowledged(irq) }
        return vector
    }

    /// Whether an edge on ISA IRQ `line` now would be a new request: masked (IMR), pending
    /// (its IRR bit is still set: the edge would merge), or ready.
    public func acceptance(irq line: Int) -> EdgeAcceptance {
        guard (0..<16).contains(line), line != Self.cascadeInput else { return .masked }
        return state.withLock { state in
            let chip = line < 8 ? state.master : state.slave
            let bit = UInt8(1) << UInt8(line & 7)
            if chip.interruptMask & bit != 0 { return .masked }
            return chip.interruptRequest & bit != 0 ? .pending : .ready
        }
    }

    // MARK: Port adapters

    /// The master's two ports (place at 0x20).
    public var master: any PortDevice { ChipPorts(pair: self, isMaster: true) }
    /// The slave's two ports (place at 0xA0).
    public var slave: any PortDevice { ChipPorts(pair: self, isMaster: false) }
    /// ELCR1 and ELCR2 (place at 0x4D0): bit n set makes IRQ n (8 + n) level triggered.
    public var elcr: any PortDevice { EdgeLevelControl(pair: self) }

    final class ChipPorts: PortDevice {
        let pair: PIC8259Pair
        let isMaster: Bool

        init(pair: PIC8259Pair, isMaster: Bool) {
            self.pair = pair
            self.isMaster = isMaster
        }

        func read(offset: UInt16, size: Int) -> UInt32 {
            UInt32(pair.access { state -> UInt8 in
                let isMaster = self.isMaster
                switch offset {
                case Register.command:
                    return isMaster ? state.master.readCommand(isMaster: true) : state.slave.readCommand(isMaster: false)
                case Register.data:
                    return isMaster ? state.master.interruptMask : state.slave.interruptMask
                default: return 0xFF
                }
            })
        }

        func write(offset: UInt16, size: Int, value: UInt32) {
            let byte = UInt8(truncatingIfNeeded: value)
            pair.access { state in
                switch (offset, isMaster) {
                case (Register.command, true): state.master.writeCommand(byte)
                case (Register.command, false): state.slave.writeCommand(byte)
                case (Register.data, true): state.master.writeData(byte)
                case (Register.data, false): state.slave.writeData(byte)
                default: break
                }
            }
        }
    }

    final class EdgeLevelControl: PortDevice {
        let pair: PIC8259Pair

        init(pair: PIC8259Pair) { self.pair = pair }

        func read(offset: UInt16, size: Int) -> UInt32 {
            UInt32(pair.access { state -> UInt8 in
                switch offset {
                case 0: return state.master.edgeLevel
                case 1: return state.slave.edgeLevel
                default: return 0xFF
                }
            })
        }

        func write(offset: UInt16, size: Int, value: UInt32) {
            let byte = UInt8(truncatingIfNeeded: value)
            pair.access { state in
                switch offset {
                case 0: Self.setEdgeLevel(&state.master, byte & PIC8259Pair.elcrWritable[0])
                case 1: Self.setEdgeLevel(&state.slave, byte & PIC8259Pair.elcrWritable[1])
                default: break
                }
            }
        }

        /// Inputs turned level-triggered request at once if their line is high.
        private static func setEdgeLevel(_ chip: inout PIC8259Pair.Chip, _ value: UInt8) {
            let newlyLevel = value & ~chip.edgeLevel
            chip.edgeLevel = value
            chip.interruptRequest = chip.interruptRequest & ~newlyLevel | chip.inputs & newlyLevel
        }
    }

    // MARK: Interrupt output

    /// Runs `body` under the lock, recomputes INT, and sends a changed level after unlocking.
    private func access<Result: Sendable>(_ body: (inout State) -> Result) -> Result {
        let (result, level, changed) = state.withLock { state in
            let result = body(&state)
            let level = state.updateInterrupt()
            let changed = level != state.publishedOutput
            state.publishedOutput = level
            intPin.store(level, ordering: .releasing)
            return (result, level, changed)
        }
        if changed {
            publishSettled(level, current: { state.withLock { $0.publishedOutput } }, send: output.set)
        }
        return result
    }
}
