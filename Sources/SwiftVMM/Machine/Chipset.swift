import SwiftVMMSupport
import SwiftVMMDevices
import SwiftVMMPlatform

/// The PC's legacy interrupt controllers and timers, wired as on a PC board:
///
/// - ISA IRQ lines go to both the 8259 pair and the I/O APIC; IRQ0 is I/O APIC pin 2
///   (the MADT's interrupt source override says so), every other IRQ its own pin.
/// - The 8259's INTR reaches the boot CPU through LINT0 (ExtINT, "virtual wire").
/// - The I/O APIC sends its messages over the APIC bus to the local APICs; level-triggered
///   EOIs come back from them.
/// - PIT channel 0 drives IRQ0 and the RTC drives IRQ8, unless the HPET's legacy
///   replacement route owns IRQ0 and IRQ8 (IA-PC HPET 1.0a §2.3.9.2.1); other HPET routes
///   are I/O APIC pins.
///
/// Used with the userspace irqchip; with KVM's, KVM models the 8259s, PIT and I/O APIC.
final class Chipset: Sendable {
    let pic: PIC8259Pair
    let ioapic: IOAPIC
    let pit: PIT8254
    let hpet: HPET
    let pmTimer: ACPIPMTimer

    /// `pitTimer` and `hpetTimer` come from the timer service; `apicBus` carries the
    /// I/O APIC's messages and the 8259's INTR to the vCPUs.
    init(ioAPICID: UInt8, pitTimer: DeviceTimer, hpetTimer: DeviceTimer, apicBus: APICBus,
         lostTicks: PIT8254.LostTickPolicy = .delay) {
        // An edge taken by an INTA cycle or EOIed at the I/O APIC: a timer may send a tick it owes.
        let taken = EdgeAcknowledgements()
        pic = PIC8259Pair(output: ExternalInterruptWire(apicBus: apicBus)) { taken.isaIRQ($0) }
        let ioapic = IOAPIC(id: ioAPICID, deliver: { apicBus.deliver($0) }) { taken.ioAPICPin($0) }
        self.ioapic = ioapic
        pmTimer = ACPIPMTimer(now: pitTimer.now)   // one clock for every device
        let router = ISARouter(pic: pic, ioapic: ioapic)
        let hpetTimers = HPETTimers(router: router, ioapic: ioapic)
        hpet = HPET(timer: hpetTimer, setLine: { hpetTimers.set($0, $1) },
                    acceptance: { route, legacy in legacy ? router.acceptance(route) : ioapic.acceptance(pin: route) },
                    lostTicks: lostTicks)
        pit = PIT8254(timer: pitTimer, irq0: LegacyReplaceableLine(router: router, hpet: hpetTimers, irq: 0), lostTicks: lostTicks)
        hpetTimers.attach(hpet)
        taken.attach(pit: pit, hpet: hpet)
        self.router = router
        rtcIRQ8 = LegacyReplaceableLine(router: router, hpet: hpetTimers, irq: 8)
    }

    private let router: ISARouter
    /// The RTC's IRQ8, disconnected while the HPET's legacy replacement owns IRQ8.
    let rtcIRQ8: any InterruptLine

    /// A device's interrupt request line `n`, numbered as KVM's `KVM_IRQ_LINE` numbers them:
    /// ISA IRQ n below 16 (to the 8259 pair and the I/O APIC), else the I/O APIC's pin n.
    func line(_ n: Int) -> any InterruptLine { n < 16 ? ISALine(router: router, irq: n) : IOAPICPinLine(ioapic: ioapic, pin: n) }

    func place(ports: PortBus, mmio: MMIOBus) throws(DevicePlacementError) {
        try ports.place(pic.master, at: UInt64(Layout.masterPIC), count: 2)
        try ports.place(pic.slave, at: UInt64(Layout.slavePIC), count: 2)
        try ports.place(pic.elcr, at: UInt64(Layout.edgeLevelControl), count: 2)
        try ports.place(pit, at: UInt64(Layout.pit), count: 4)
        try ports.place(pit.port61, at: UInt64(Layout.systemControlPortB), count: 1)
        try ports.place(pmTimer, at: UInt64(Layout.pmTimer), count: 4)
        try mmio.place(ioapic, at: Layout.ioAPICBase, count: 0x1000)
        try mmio.place(hpet, at: Layout.hpetBase, count: 0x400)
    }

    /// The I/O APIC pin an ISA IRQ arrives on (MADT interrupt source override IRQ0 → GSI 2).
    static func ioAPICPin(forISAIRQ irq: Int) -> Int { irq == 0 ? 2 : irq }
}

/// Fans an ISA IRQ out to the 8259 pair and the I/O APIC.
private struct ISARouter: Sendable {
    let pic: PIC8259Pair
    let ioapic: IOAPIC

    func set(_ irq: Int, _ level: Bool) {
        pic.setIRQ(irq, level: level)
        ioapic.setPin(Chipset.ioAPICPin(forISAIRQ: irq), level: level)
    }

    func acceptance(_ irq: Int) -> EdgeAcceptance {
        pic.acceptance(irq: irq).combined(with: ioapic.acceptance(pin: Chipset.ioAPICPin(forISAIRQ: irq)))
    }
}

private struct ISALine: InterruptLine {
    let router: ISARouter
    let irq: Int
    func set(_ level: Bool) { router.set(irq, level) }
    var acceptance: EdgeAcceptance { router.acceptance(irq) }
}

/// An I/O APIC pin no ISA IRQ arrives on (GSI 16 and up).
private struct IOAPICPinLine: InterruptLine {
    let ioapic: IOAPIC
    let pin: Int
    func set(_ level: Bool) { ioapic.setPin(pin, level: level) }
    var acceptance: EdgeAcceptance { ioapic.acceptance(pin: pin) }
}

/// Passes "this line's edge was taken" from the interrupt controllers, built before the
/// timers, to the timers that owe ticks on it: the PIT on IRQ0, the HPET on its routes
/// (IRQ0 and IRQ8 under legacy replacement, else I/O APIC pins).
private final class EdgeAcknowledgements: Sendable {
    private struct Timers: Sendable {
        weak var pit: PIT8254?
        weak var hpet: HPET?
    }
    private let timers = AnnotatedMutex(Timers())

    func attach(pit: PIT8254, hpet: HPET) { timers.withLock { $0 = Timers(pit: pit, hpet: hpet) } }

    /// An 8259 INTA cycle took ISA IRQ `irq`.
    func isaIRQ(_ irq: Int) {
        let timers = timers.withLock { $0 }
        if irq == 0 { timers.pit?.irq0Acknowledged() }
        if let hpet = timers.hpet, hpet.legacyReplacement, HPET.legacyRoutes.contains(irq) { hpet.acknowledged(route: irq) }
    }

    /// An EOI acknowledged I/O APIC pin `pin`'s edge.
    func ioAPICPin(_ pin: Int) {
        let timers = timers.withLock { $0 }
        if pin == Chipset.ioAPICPin(forISAIRQ: 0) { timers.pit?.irq0Acknowledged() }
        guard let hpet = timers.hpet else { return }
        if !hpet.legacyReplacement {
            hpet.acknowledged(route: pin)
        } else if let irq = HPET.legacyRoutes.first(where: { Chipset.ioAPICPin(forISAIRQ: $0) == pin }) {
            hpet.acknowledged(route: irq)
        }
    }
}

/// The 8259's INTR output: tells the boot CPU to look at LINT0.
private struct ExternalInterruptWire: InterruptLine {
    let apicBus: APICBus
    func set(_ level: Bool) { if level { apicBus.raiseExternalInterrupt() } }
}

/// HPET interrupt routes: IRQ0/IRQ8 under legacy replacement, else I/O APIC pins.
private final class HPETTimers: Sendable {
    let router: ISARouter
    let ioapic: IOAPIC
    /// Weak: the HPET's interrupt closure holds this object (a strong reference both ways
    /// kept every machine's chipset alive; found by the FuzzDevices leak check).
    private struct WeakHPET: Sendable { weak var hpet: HPET? }
    private let hpet = AnnotatedMutex(WeakHPET())

    init(router: ISARouter, ioapic: IOAPIC) {
        self.router = router
        self.ioapic = ioapic
    }

    func attach(_ hpet: HPET) { self.hpet.withLock { $0.hpet = hpet } }

    var legacyReplacement: Bool { hpet.withLock { $0.hpet }?.legacyReplacement ?? false }

    func set(_ route: Int, _ level: Bool) {
        if legacyReplacement { router.set(route, level) } else { ioapic.setPin(route, level: level) }
    }
}

/// A legacy device's output that the HPET's legacy replacement takes over: PIT channel 0's
/// OUT on IRQ0 and the RTC's IRQ# on IRQ8, disconnected while the HPET owns them (IA-PC
/// HPET 1.0a §2.3.9.2.1: the PIT's and the RTC's interrupts are "not routed").
private struct LegacyReplaceableLine: InterruptLine {
    let router: ISARouter
    let hpet: HPETTimers
    let irq: Int
    func set(_ level: Bool) { if !hpet.legacyReplacement { router.set(irq, level) } }
    var acceptance: EdgeAcceptance { hpet.legacyReplacement ? .masked : router.acceptance(irq) }
}
