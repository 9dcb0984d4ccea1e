import Testing
@testable import SwiftVMM

/// The 8259A pair driven through its ports, with a recording INT line.
@Suite("PIC8259")
struct PIC8259Tests {
    let int = RecordingLine()
    let pic: PIC8259Pair
    let master: any PortDevice
    let slave: any PortDevice
    let elcr: any PortDevice

    init() {
        pic = PIC8259Pair(output: int)
        master = pic.master
        slave = pic.slave
        elcr = pic.elcr
    }

    // A0 = 0 and A0 = 1 (8259A datasheet, "Programming the 8259A").
    static let command: UInt16 = 0, data: UInt16 = 1
    // OCW3: read IRR, read ISR, poll. OCW2: non-specific EOI.
    static let readIRR: UInt8 = 0x0A, readISR: UInt8 = 0x0B, poll: UInt8 = 0x0C, eoi: UInt8 = 0x20

    func out(_ chip: any PortDevice, _ offset: UInt16, _ value: UInt8) {
        chip.write(offset: offset, size: 1, value: UInt32(value))
    }

    func inb(_ chip: any PortDevice, _ offset: UInt16) -> UInt8 { UInt8(chip.read(offset: offset, size: 1)) }

    func irr(_ chip: any PortDevice) -> UInt8 {
        out(chip, Self.command, Self.readIRR)
        return inb(chip, Self.command)
    }

    func isr(_ chip: any PortDevice) -> UInt8 {
        out(chip, Self.command, Self.readISR)
        return inb(chip, Self.command)
    }

    /// The sequence Linux's init_8259A uses: ICW1 edge + ICW4, ICW2 base, ICW3 cascade, ICW4.
    func initialize(icw4: UInt8 = 0x01, masterBase: UInt8 = 0x20, slaveBase: UInt8 = 0x28) {
        out(master, Self.command, 0x11)
        out(master, Self.data, masterBase)
        out(master, Self.data, 0x04)        // slave on IR2
        out(master, Self.data, icw4)
        out(slave, Self.command, 0x11)
        out(slave, Self.data, slaveBase)
        out(slave, Self.data, 0x02)         // slave ID 2
        out(slave, Self.data, icw4)
    }

    func pulse(_ irq: Int) {
        pic.setIRQ(irq, level: true)
        pic.setIRQ(irq, level: false)
    }

    // MARK: Initialization

    @Test("power-on: everything masked, BIOS vector bases")
    func powerOn() {
        #expect(inb(master, Self.data) == 0xFF)
        #expect(inb(slave, Self.data) == 0xFF)
        pic.setIRQ(1, level: true)
        #expect(!pic.hasInterrupt, "masked")
        #expect(irr(master) == 0x02, "IRR latches even when masked")
        out(master, Self.data, 0xFD)
        #expect(pic.hasInterrupt)
        #expect(pic.acknowledge() == 0x09, "BIOS master base 0x08")
    }

    @Test("ICW1–ICW4 then IRQ1 gives vector base + 1; EOI clears ISR")
    func initializationAndIRQ1() {
        initialize()
        #expect(inb(master, Self.data) == 0, "ICW1 clears IMR")
        pic.setIRQ(1, level: true)
        #expect(pic.hasInterrupt)
        #expect(int.levels == [true])
        #expect(irr(master) == 0x02)
        #expect(pic.acknowledge() == 0x21)
        #expect(int.levels == [true, false], "INT drops once the request is in service")
        #expect(irr(master) == 0, "edge request cleared by INTA")
        #expect(isr(master) == 0x02)
        out(master, Self.command, Self.eoi)
        #expect(isr(master) == 0)
        #expect(!pic.hasInterrupt, "an edge input held high does not request again")
    }

    @Test("ICW1 clears ISR and latched requests; a single chip without ICW4 skips ICW3 and ICW4")
    func reinitialization() {
        initialize()
        pulse(3)
        _ = pic.acknowledge()
        pulse(4)
        out(master, Self.command, 0x13)     // single, IC4
        out(master, Self.data, 0x40)        // ICW2
        out(master, Self.data, 0x01)        // ICW4 (no ICW3 in single mode)
        out(master, Self.data, 0xAA)        // now OCW1
        #expect(inb(master, Self.data) == 0xAA)
        #expect(isr(master) == 0)
        #expect(irr(master) == 0)
        out(master, Self.command, 0x12)     // single, no ICW4
        out(master, Self.data, 0x50)        // ICW2, then done
        out(master, Self.data, 0xFD)        // OCW1: only IRQ1 unmasked
        #expect(inb(master, Self.data) == 0xFD)
        pulse(1)
        #expect(pic.acknowledge() == 0x51)
    }

    // MARK: Masking and priority

    @Test("OCW1 masks an IRQ; unmasking a latched request interrupts")
    func masking() {
        initialize()
        out(master, Self.data, 0x02)
        #expect(inb(master, Self.data) == 0x02)
        pulse(1)
        #expect(!pic.hasInterrupt)
        #expect(int.levels.isEmpty)
        out(master, Self.data, 0x00)
        #expect(pic.hasInterrupt)
        #expect(int.level)
        #expect(pic.acknowledge() == 0x21)
    }

    @Test("fixed priority: IRQ0 highest, in-service levels block lower ones, higher ones nest")
    func priority() {
        initialize()
        pulse(3)
        pulse(1)
        #expect(pic.acknowledge() == 0x21, "IRQ1 before IRQ3")
        #expect(!pic.hasInterrupt, "IRQ3 waits while IRQ1 is in service")
        pulse(0)
        #expect(pic.hasInterrupt, "IRQ0 outranks IRQ1 in service")
        #expect(pic.acknowledge() == 0x20)
        #expect(isr(master) == 0x03)
        out(master, Self.command, Self.eoi)
        #expect(isr(master) == 0x02, "non-specific EOI ends the highest in service (IRQ0)")
        #expect(!pic.hasInterrupt)
        out(master, Self.command, Self.eoi)
        #expect(pic.acknowledge() == 0x23)
    }

    @Test("specific EOI clears the named level only")
    func specificEOI() {
        initialize()
        pulse(3)
        _ = pic.acknowledge()
        pulse(1)
        _ = pic.acknowledge()
        #expect(isr(master) == 0x0A)
        out(master, Self.command, 0x63)     // specific EOI, level 3
        #expect(isr(master) == 0x02)
    }

    @Test("OCW2 set priority and rotate on EOI change which IRQ wins")
    func rotation() {
        initialize()
        out(master, Self.command, 0xC3)     // set priority: IR3 lowest, IR4 highest
        pulse(1)
        pulse(5)
        #expect(pic.acknowledge() == 0x25)
        out(master, Self.command, 0xA0)     // rotate on non-specific EOI: IR5 becomes lowest
        #expect(isr(master) == 0)
        pulse(5)
        #expect(pic.acknowledge() == 0x21, "IR6 is highest now, then 7, 0, 1 … 5")
    }

    @Test("special mask mode lets lower levels in while the served level is masked")
    func specialMask() {
        initialize()
        pulse(3)
        _ = pic.acknowledge()
        pulse(5)
        #expect(!pic.hasInterrupt)
        out(master, Self.data, 0x08)        // mask IR3
        out(master, Self.command, 0x68)     // OCW3: set special mask mode
        #expect(pic.hasInterrupt)
        #expect(pic.acknowledge() == 0x25)
        out(master, Self.command, 0x48)     // reset special mask mode
        pulse(6)
        #expect(!pic.hasInterrupt, "nested again: IR5 in service blocks IR6")
    }

    // MARK: Cascade

    @Test("IRQ9 arrives through IR2: slave vector, both ISRs set, EOI to both")
    func cascade() {
        initialize()
        pic.setIRQ(9, level: true)
        #expect(pic.hasInterrupt)
        #expect(irr(master) == 0x04)
        #expect(irr(slave) == 0x02)
        #expect(pic.acknowledge() == 0x29)
        #expect(isr(master) == 0x04)
        #expect(isr(slave) == 0x02)
        pulse(1)
        #expect(pic.hasInterrupt, "IRQ1 outranks the cascade in service")
        #expect(pic.acknowledge() == 0x21)
        out(master, Self.command, Self.eoi)  // ends IRQ1
        pulse(12)
        #expect(!pic.hasInterrupt, "IRQ12 waits for IRQ9 on the slave")
        out(slave, Self.command, Self.eoi)
        #expect(!pic.hasInterrupt, "and for IR2 on the master")
        out(master, Self.command, Self.eoi)
        #expect(pic.acknowledge() == 0x2C)
    }

    @Test("slave priority sits inside IR2; the slave's IMR masks its inputs")
    func slavePriorityAndMask() {
        initialize()
        pulse(14)
        pulse(3)
        pulse(8)
        #expect(pic.acknowledge() == 0x28, "IR2 (IRQ8 on the slave) before IRQ3")
        out(slave, Self.command, Self.eoi)
        out(master, Self.command, Self.eoi)
        #expect(pic.acknowledge() == 0x2E, "IRQ14 is next (still IR2), before IRQ3")
        out(slave, Self.command, Self.eoi)
        out(master, Self.command, Self.eoi)
        #expect(pic.acknowledge() == 0x23)
        out(master, Self.command, Self.eoi)
        out(slave, Self.data, 0x10)          // mask IRQ12
        pulse(12)
        #expect(!pic.hasInterrupt)
        #expect(irr(master) == 0)
    }

    @Test("ISA IRQ 2 is the cascade input and cannot be raised directly")
    func irq2Ignored() {
        initialize()
        pic.setIRQ(2, level: true)
        #expect(!pic.hasInterrupt)
        pic.setIRQ(16, level: true)
        pic.setIRQ(-1, level: true)
        #expect(!pic.hasInterrupt)
    }

    // MARK: Spurious interrupts

    @Test("a level request withdrawn before INTA gives spurious IRQ7, ISR untouched")
    func spuriousIRQ7() {
        initialize()
        out(elcr, 0, 0x20)                  // IRQ5 level triggered
        pic.setIRQ(5, level: true)
        #expect(int.level)
        pic.setIRQ(5, level: false)
        #expect(!int.level)
        #expect(pic.acknowledge() == 0x27)
        #expect(isr(master) == 0)
    }

    @Test("a slave request withdrawn after the master latched IR2 gives spurious IRQ15")
    func spuriousIRQ15() {
        initialize()
        out(elcr, 1, 0x04)                  // IRQ10 level triggered
        pic.setIRQ(10, level: true)
        pic.setIRQ(10, level: false)
        #expect(irr(slave) == 0)
        #expect(pic.hasInterrupt, "the master latched the edge on IR2")
        #expect(pic.acknowledge() == 0x2F)
        #expect(isr(master) == 0x04, "the master's IR2 is in service and needs an EOI")
        #expect(isr(slave) == 0)
    }

    // MARK: Modes

    @Test("automatic EOI leaves ISR clear")
    func autoEOI() {
        initialize(icw4: 0x03)
        pulse(1)
        #expect(pic.acknowledge() == 0x21)
        #expect(isr(master) == 0)
        pulse(4)
        pulse(1)
        #expect(pic.acknowledge() == 0x21, "no EOI needed before the next")
        #expect(pic.acknowledge() == 0x24)
        pic.setIRQ(9, level: true)
        #expect(pic.acknowledge() == 0x29)
        #expect(isr(master) == 0)
        #expect(isr(slave) == 0)
    }

    @Test("ELCR: writable bits, level inputs request while high, again after EOI")
    func levelTriggered() {
        out(elcr, 0, 0xFF)
        out(elcr, 1, 0xFF)
        #expect(inb(elcr, 0) == 0xF8, "IRQ 0–2 are edge only")
        #expect(inb(elcr, 1) == 0xDE, "IRQ 8 and 13 are edge only")
        out(elcr, 0, 0x00)
        out(elcr, 1, 0x08)                  // IRQ11 level
        initialize()
        pic.setIRQ(11, level: true)
        #expect(pic.acknowledge() == 0x2B)
        #expect(irr(slave) == 0x08, "a level request stays in IRR while the line is high")
        #expect(!pic.hasInterrupt, "but in service blocks it")
        out(slave, Self.command, Self.eoi)
        out(master, Self.command, Self.eoi)
        #expect(pic.hasInterrupt, "still high after EOI: requests again")
        #expect(pic.acknowledge() == 0x2B)
        pic.setIRQ(11, level: false)
        out(slave, Self.command, Self.eoi)
        out(master, Self.command, Self.eoi)
        #expect(!pic.hasInterrupt)
    }

    @Test("ICW1 LTIM makes every input level triggered")
    func levelTriggeredMode() {
        out(master, Self.command, 0x19)
        out(master, Self.data, 0x20)
        out(master, Self.data, 0x04)
        out(master, Self.data, 0x01)
        pic.setIRQ(4, level: true)
        #expect(pic.hasInterrupt)
        pic.setIRQ(4, level: false)
        #expect(!pic.hasInterrupt)
    }

    @Test("ELCR turned on for a line already high requests at once")
    func elcrOnHighLine() {
        initialize()
        pic.setIRQ(10, level: true)
        #expect(pic.acknowledge() == 0x2A)
        out(slave, Self.command, Self.eoi)
        out(master, Self.command, Self.eoi)
        #expect(!pic.hasInterrupt)
        out(elcr, 1, 0x04)
        #expect(pic.hasInterrupt)
    }

    @Test("poll command: the poll word, and the request goes into service")
    func pollCommand() {
        initialize()
        out(master, Self.data, 0xFF)        // polling works with INT masked off
        out(master, Self.data, 0x00)
        pulse(6)
        out(master, Self.command, Self.poll)
        #expect(inb(master, Self.command) == 0x86)
        #expect(isr(master) == 0x40)
        out(master, Self.command, Self.poll)
        #expect(inb(master, Self.command) == 0x00, "nothing pending")
        #expect(irr(master) == 0, "reads after the poll are IRR again")
    }

    @Test("the INT line settles on the device's level under concurrent access")
    func concurrentAccess() async {
        initialize()
        out(elcr, 0, 0x60)                  // IRQ5 and IRQ6 level triggered
        let pic = pic
        await withTaskGroup(of: Void.self) { group in
            for task in 0..<4 {
                group.addTask {
                    // Tasks 0–2 toggle IRQ5 and leave it low; task 3 toggles IRQ6 and leaves it high.
                    for n in 0..<2_000 { pic.setIRQ(task == 3 ? 6 : 5, level: n % 2 == 0 || (task == 3 && n == 1_999)) }
                }
            }
        }
        #expect(pic.hasInterrupt, "IRQ6 ends high")
        #expect(int.level == pic.hasInterrupt)
    }

    @Test("the INT line follows the master's output")
    func outputLine() {
        initialize()
        pulse(9)
        pulse(1)
        #expect(int.levels == [true])
        _ = pic.acknowledge()               // IRQ1
        #expect(int.levels == [true, false])
        out(master, Self.command, Self.eoi)
        #expect(int.levels == [true, false, true], "IR2 still pending")
        #expect(pic.acknowledge() == 0x29)
        #expect(int.levels == [true, false, true, false])
    }
}

/// What a timer that owes ticks learns from the 8259: whether an edge now would be new, and
/// when an INTA took one.
@Suite("PIC8259 edge acceptance")
struct PIC8259AcceptanceTests {
    let taken = Recorder<Int>()
    let pic: PIC8259Pair

    init() {
        let taken = taken
        pic = PIC8259Pair(acknowledged: { taken.append($0) })
    }

    func initialize() {
        for (chip, icws) in [(pic.master, [0x11, 0x20, 0x04, 0x01]), (pic.slave, [0x11, 0x28, 0x02, 0x01])] {
            for (index, icw) in icws.enumerated() { chip.write(offset: index == 0 ? 0 : 1, size: 1, value: UInt32(icw)) }
        }
    }

    @Test("masked by IMR, pending while IRR holds the edge, ready once INTA took it")
    func acceptanceFollowsIMRAndIRR() {
        #expect(pic.acceptance(irq: 0) == .masked, "power-on: everything masked")
        initialize()
        #expect(pic.acceptance(irq: 0) == .ready)
        pic.setIRQ(0, level: true)
        pic.setIRQ(0, level: false)
        #expect(pic.acceptance(irq: 0) == .pending, "IRR holds the edge: another would merge")
        #expect(taken.values.isEmpty)
        #expect(pic.acknowledge() == 0x20)
        #expect(pic.acceptance(irq: 0) == .ready, "in service, not requested: a new edge is latched as a new request")
        #expect(taken.values == [0])
    }

    @Test("an INTA through the cascade names the slave's IRQ; a spurious one names none")
    func acknowledgementsNameTheIRQ() {
        initialize()
        pic.setIRQ(10, level: true)
        #expect(pic.acknowledge() == 0x2A)
        #expect(taken.values == [10])
        #expect(pic.acknowledge() == 0x27, "nothing requested: spurious IRQ7")
        #expect(taken.values == [10])
        #expect(pic.acceptance(irq: 2) == .masked, "the cascade input is not an ISA line")
    }
}
