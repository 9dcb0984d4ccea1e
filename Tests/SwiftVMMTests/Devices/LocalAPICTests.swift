import Testing
@testable import SwiftVMM
@testable import SwiftVMMDevices

/// The userspace local APIC model, driven directly with a fake clock, timer and APIC bus.
struct LocalAPICTests {
    /// Records what the APIC sends out; `tsc` is the fake guest TSC.
    final class Harness {
        var tsc: UInt64 = 1_000_000
        var armed: UInt64?? = .none
        var ipis: [LocalAPIC.InterprocessorInterrupt] = []
        var addressing: LocalAPIC.Addressing?
        var levelEOIs: [UInt8] = [], edgeEOIs: [UInt8] = []
        var bases: [UInt64] = []
        var apic: LocalAPIC!

        /// TSC at 2 GHz, bus at 1 GHz: one timer count (divide by 1) is 2 TSC cycles.
        init(id: UInt32 = 0, bootProcessor: Bool = true, physicalAddressBits: Int = 46, x2APIC: Bool = true) {
            apic = LocalAPIC(id: id, isBootProcessor: bootProcessor, environment: .init(
                tscHz: 2_000_000_000, now: { [unowned self] in tsc },
                armTimer: { [unowned self] in armed = .some($0) },
                sendIPI: { [unowned self] in ipis.append($0) },
                addressingChanged: { [unowned self] in addressing = $0 },
                levelEndOfInterrupt: { [unowned self] in levelEOIs.append($0) },
                edgeEndOfInterrupt: { [unowned self] in edgeEOIs.append($0) },
                baseChanged: { [unowned self] in bases.append($0) },
                physicalAddressBits: physicalAddressBits, x2APICSupported: x2APIC))
        }

        func write(_ register: UInt32, _ value: UInt32) { apic.writeMMIO(offset: UInt64(register), size: 4, value: UInt64(value)) }
        func read(_ register: UInt32) -> UInt32 { UInt32(apic.readMMIO(offset: UInt64(register), size: 4)) }
        func enable() { write(LocalAPIC.Register.spuriousVector, 0x1FF) }
    }

    typealias R = LocalAPIC.Register

    @Test func resetStateMatchesTheSDM() {
        let h = Harness(id: 3, bootProcessor: false)
        #expect(h.apic.base == 0xFEE0_0800, "enabled, not BSP, default base")
        #expect(h.read(R.id) == 3 << 24)
        #expect(h.read(R.version) == 0x0006_0014)
        #expect(h.read(R.spuriousVector) == 0xFF)
        #expect(h.read(R.destinationFormat) == 0xFFFF_FFFF)
        #expect(h.read(R.lvtTimer) == 1 << 16, "LVTs start masked")
        #expect(Harness().apic.base & 1 << 8 != 0, "BSP flag on the boot processor")
    }

    /// A level vector's EOI is broadcast (SDM Vol. 3A §11.8.5); an edge vector's goes only to
    /// the VMM's I/O APIC hook, for timers that owe ticks; suppressed broadcast stops the first.
    @Test func endOfInterruptGoesOutByTriggerMode() {
        let h = Harness()
        h.enable()
        h.apic.accept(vector: 0x30)
        h.apic.startService(0x30)
        h.write(R.endOfInterrupt, 0)
        h.apic.accept(vector: 0x40, levelTriggered: true)
        h.apic.startService(0x40)
        h.write(R.endOfInterrupt, 0)
        #expect(h.edgeEOIs == [0x30])
        #expect(h.levelEOIs == [0x40])
        h.write(R.endOfInterrupt, 0)
        #expect(h.edgeEOIs == [0x30] && h.levelEOIs == [0x40], "nothing in service: nothing sent")
    }

    @Test func priorityDecidesDelivery() {
        let h = Harness()
        #expect(h.apic.deliverableVector == nil)
        h.apic.accept(vector: 0x45)
        #expect(h.apic.deliverableVector == nil, "software-disabled APIC delivers nothing")
        h.enable()
        #expect(h.apic.deliverableVector == 0x45)
        h.write(R.taskPriority, 0x50)
        #expect(h.apic.deliverableVector == nil, "TPR class 5 masks class 4")
        h.write(R.taskPriority, 0x40)
        #expect(h.apic.deliverableVector == nil, "equal class is masked too")
        h.write(R.taskPriority, 0x3F)
        #expect(h.apic.deliverableVector == 0x45)
        h.apic.startService(0x45)
        #expect(h.read(R.inService + 0x20) == 1 << 5, "ISR bit for 0x45 (register 2, bit 5)")
        #expect(h.read(R.processorPriority) == 0x40)
        h.apic.accept(vector: 0x41)
        #expect(h.apic.deliverableVector == nil, "same class as in service waits")
        h.apic.accept(vector: 0x61)
        #expect(h.apic.deliverableVector == 0x61, "a higher class preempts")
        h.apic.startService(0x61)
        h.write(R.endOfInterrupt, 0)
        #expect(h.read(R.inService + 0x30) == 0, "EOI clears the highest in-service vector (0x61)")
        #expect(h.read(R.inService + 0x20) == 1 << 5)
        h.write(R.endOfInterrupt, 0)
        #expect(h.apic.deliverableVector == 0x41)
    }

    @Test func illegalVectorsAreErrors() {
        let h = Harness()
        h.enable()
        h.apic.accept(vector: 7)
        #expect(h.apic.deliverableVector == nil)
        h.write(R.errorStatus, 0)
        #expect(h.read(R.errorStatus) == 1 << 6, "receive illegal vector")
        h.write(R.interruptCommandLow, 0x0000_4005)   // fixed IPI with vector 5
        #expect(h.ipis.isEmpty)
        h.write(R.errorStatus, 0)
        #expect(h.read(R.errorStatus) == 1 << 5, "send illegal vector")
    }

    @Test func oneShotTimerCountsDownAndFiresOnce() {
        let h = Harness()
        h.enable()
        h.write(R.timerDivide, 0xB)                   // divide by 1
        h.write(R.lvtTimer, 0x40)
        h.write(R.timerInitialCount, 1000)            // 1000 counts = 2000 TSC cycles
        #expect(h.armed == .some(1_002_000))
        h.tsc += 500
        #expect(h.read(R.timerCurrentCount) == 750)
        h.apic.timerExpired(atTSC: 1_001_999)
        #expect(h.apic.deliverableVector == nil, "never early")
        #expect(h.armed == .some(1_002_000), "re-armed for the real deadline")
        h.apic.timerExpired(atTSC: 1_002_000)
        #expect(h.apic.deliverableVector == 0x40)
        h.tsc = 1_003_000
        #expect(h.read(R.timerCurrentCount) == 0)
        h.write(R.timerInitialCount, 0)
        #expect(h.armed == .some(nil), "initial count 0 stops the timer")
    }

    @Test func dividerScalesTheCount() {
        let h = Harness()
        h.write(R.timerDivide, 0x3)                   // divide by 16
        h.write(R.timerInitialCount, 100)
        #expect(h.armed == .some(1_000_000 + 100 * 16 * 2))
    }

    @Test func maskedTimerStillCounts() {
        let h = Harness()
        h.enable()
        h.write(R.timerDivide, 0xB)
        h.write(R.lvtTimer, 0x1_0040)
        h.write(R.timerInitialCount, 100)
        h.tsc += 100
        #expect(h.read(R.timerCurrentCount) == 50)
        h.apic.timerExpired(atTSC: h.tsc + 200)
        #expect(h.apic.deliverableVector == nil, "masked: no interrupt")
    }

    @Test func periodicTimerKeepsItsPhaseWithoutBursts() {
        let h = Harness()
        h.enable()
        h.write(R.timerDivide, 0xB)
        h.write(R.lvtTimer, 0x2_0041)                 // periodic
        h.write(R.timerInitialCount, 100_000)         // 200_000 TSC cycles
        #expect(h.armed == .some(1_200_000))
        h.apic.timerExpired(atTSC: 1_200_010)
        #expect(h.armed == .some(1_400_000))
        #expect(h.apic.deliverableVector == 0x41)
        h.apic.startService(0x41)
        h.apic.timerExpired(atTSC: 1_950_000)         // three periods late
        #expect(h.armed == .some(2_000_000), "next period boundary, not a burst")
    }

    @Test func periodicTimerHasAMinimumPeriod() {
        let h = Harness()
        h.write(R.timerDivide, 0xB)
        h.write(R.lvtTimer, 0x2_0041)
        h.write(R.timerInitialCount, 1)
        #expect(h.armed == .some(1_000_000 + LocalAPIC.minimumPeriod * 2))
    }

    @Test func tscDeadlineMode() {
        let h = Harness()
        h.enable()
        #expect(h.apic.writeMSR(LocalAPIC.MSR.tscDeadline, 5_000_000))
        #expect(h.armed == .none, "ignored outside TSC-deadline mode")
        h.write(R.lvtTimer, 0x4_0042)                 // TSC-deadline mode
        #expect(h.armed == .some(nil), "changing to TSC-deadline mode disarms")
        h.armed = .none
        h.write(R.timerInitialCount, 100)
        #expect(h.armed == .none, "initial count is ignored in TSC-deadline mode")
        #expect(h.apic.writeMSR(LocalAPIC.MSR.tscDeadline, 5_000_000))
        #expect(h.armed == .some(5_000_000))
        #expect(h.apic.readMSR(LocalAPIC.MSR.tscDeadline) == 5_000_000)
        h.apic.timerExpired(atTSC: 5_000_001)
        #expect(h.apic.deliverableVector == 0x42)
        #expect(h.apic.readMSR(LocalAPIC.MSR.tscDeadline) == 0, "the deadline resets after firing")
        #expect(h.apic.writeMSR(LocalAPIC.MSR.tscDeadline, 6_000_000))
        h.write(R.lvtTimer, 0x0_0042)                 // back to one-shot: disarms
        #expect(h.armed == .some(nil))
        #expect(h.apic.readMSR(LocalAPIC.MSR.tscDeadline) == 0)
    }

    @Test func interruptCommandRegisterSendsIPIs() {
        let h = Harness(id: 2)
        h.write(R.interruptCommandHigh, 0x0500_0000)
        h.write(R.interruptCommandLow, 0x0000_4031)   // fixed, vector 0x31, physical, to APIC 5
        #expect(h.ipis.last == .init(vector: 0x31, mode: .fixed, logical: false, assert: true, levelTriggered: false,
                                     shorthand: .none, destination: 5, source: 2, x2APIC: false))
        #expect(h.read(R.interruptCommandLow) & 1 << 12 == 0, "delivery status idle")
        h.write(R.interruptCommandLow, 0x000C_4500)   // INIT, all excluding self
        #expect(h.ipis.last?.mode == .initialize)
        #expect(h.ipis.last?.shorthand == .allExcludingSelf)
        h.write(R.interruptCommandLow, 0x000C_4608)   // SIPI vector 8
        #expect(h.ipis.last?.mode == .startup)
        #expect(h.ipis.last?.vector == 8)
    }

    @Test func x2APICModeUsesMSRs() {
        let h = Harness(id: 0x13)
        #expect(h.apic.readMSR(0x802) == nil, "x2APIC MSRs #GP in xAPIC mode")
        #expect(!h.apic.writeMSR(LocalAPIC.MSR.apicBase, 0xFEE0_0000 | 1 << 10), "EXTD without EN is invalid")
        #expect(h.apic.writeMSR(LocalAPIC.MSR.apicBase, 0xFEE0_0000 | 1 << 11 | 1 << 10))
        #expect(h.apic.x2APICMode)
        #expect(h.apic.mmioBase == nil, "the MMIO page is not decoded in x2APIC mode")
        #expect(h.apic.readMSR(0x802) == 0x13)
        #expect(h.apic.readMSR(0x80D) == 1 << 16 | 1 << 3, "logical ID: cluster 1, bit 3")
        #expect(!h.apic.writeMSR(0x802, 5), "ID is read-only")
        #expect(h.apic.readMSR(0x80E) == nil, "no DFR in x2APIC mode")
        #expect(h.apic.writeMSR(0x80F, 0x1FF))
        #expect(h.apic.writeMSR(0x830, 0x0000_0007_0000_4044))
        #expect(h.ipis.last?.destination == 7)
        #expect(h.ipis.last?.x2APIC == true)
        #expect(h.apic.writeMSR(0x83F, 0x55))
        #expect(h.apic.deliverableVector == 0x55, "SELF IPI")
        #expect(!h.apic.writeMSR(LocalAPIC.MSR.apicBase, 0xFEE0_0000 | 1 << 11), "x2APIC → xAPIC directly is invalid")
        #expect(h.addressing?.x2APIC == true)
    }

    /// IA32_APIC_BASE (§11.4.4, §11.12.1 Figure 11-26, §11.12.5): reserved bits #GP, the
    /// mode transitions hardware refuses #GP, and each change is told to the CPU's view.
    @Test func apicBaseReservedBitsAndTransitions() {
        let h = Harness(physicalAddressBits: 46)
        let base: UInt64 = 0xFEE0_0000, en: UInt64 = 1 << 11, extd: UInt64 = 1 << 10
        #expect(!h.apic.writeMSR(LocalAPIC.MSR.apicBase, base | en | 1), "bit 0 is reserved")
        #expect(!h.apic.writeMSR(LocalAPIC.MSR.apicBase, base | en | 1 << 9), "bit 9 is reserved")
        #expect(!h.apic.writeMSR(LocalAPIC.MSR.apicBase, base | en | 1 << 46), "at MAXPHYADDR and up reserved")
        #expect(h.bases.isEmpty, "refused writes change nothing")
        #expect(h.apic.writeMSR(LocalAPIC.MSR.apicBase, base))
        #expect(h.bases == [base | 1 << 8], "disabled (BSP kept), and the CPU told")
        #expect(!h.apic.writeMSR(LocalAPIC.MSR.apicBase, base | en | extd), "disabled → x2APIC directly")
        #expect(h.apic.writeMSR(LocalAPIC.MSR.apicBase, 0xFED4_0000 | en), "relocated and enabled")
        #expect(h.apic.mmioBase == 0xFED4_0000)
        #expect(h.apic.writeMSR(LocalAPIC.MSR.apicBase, 0xFED4_0000 | en))
        #expect(h.bases.count == 2, "an unchanged value is not told again")
        let noX2APIC = Harness(x2APIC: false)
        #expect(!noX2APIC.apic.writeMSR(LocalAPIC.MSR.apicBase, base | en | extd), "EXTD without x2APIC support")
    }

    /// The xAPIC ID is writable (§11.4.6) and physical IPIs follow it; the x2APIC ID is not.
    @Test func xAPICIDIsWritable() {
        let h = Harness(id: 1)
        h.write(R.id, 0x0700_0000)
        #expect(h.read(R.id) == 0x0700_0000)
        #expect(h.addressing?.matchesPhysical(7, x2APICMessage: false) == true)
        #expect(h.addressing?.matchesPhysical(1, x2APICMessage: false) == false)
        #expect(h.addressing?.id == 1, "still vCPU 1's APIC on the bus")
        h.apic.reset()   // INIT
        #expect(h.read(R.id) == 0x0700_0000, "INIT keeps the ID")
        #expect(h.apic.writeMSR(LocalAPIC.MSR.apicBase, 0xFEE0_0000 | 1 << 11 | 1 << 10))
        #expect(h.apic.readMSR(0x802) == 1, "x2APIC mode: the x2APIC ID")
        #expect(h.addressing?.matchesPhysical(1, x2APICMessage: true) == true)
    }

    /// CR8 is TPR[7:4] (§11.8.6.1): a MOV to CR8 clears TPR[3:0] and masks by class; a TPR
    /// written through the page shows in CR8.
    @Test func cr8IsTheTaskPriorityClass() {
        let h = Harness()
        h.enable()
        h.apic.accept(vector: 0x45)
        h.apic.cr8 = 5
        #expect(h.read(R.taskPriority) == 0x50)
        #expect(h.apic.deliverableVector == nil, "class 5 masks 0x45")
        h.apic.cr8 = 3
        #expect(h.apic.deliverableVector == 0x45)
        h.write(R.taskPriority, 0x7A)
        #expect(h.apic.cr8 == 7)
        h.apic.cr8 = 7
        #expect(h.read(R.taskPriority) == 0x7A, "the same class written back keeps TPR[3:0]")
    }

    /// x2APIC MSR writes (§11.12.1.2-3): bits 63:32 are reserved except in the ICR, SELF IPI
    /// takes only a vector, EOI only 0.
    @Test func x2APICReservedBits() {
        let h = Harness()
        #expect(h.apic.writeMSR(LocalAPIC.MSR.apicBase, 0xFEE0_0000 | 1 << 11 | 1 << 10))
        #expect(!h.apic.writeMSR(0x808, 1 << 32), "TPR: high half reserved")
        #expect(!h.apic.writeMSR(0x83F, 0x100), "SELF IPI: bits 31:8 reserved")
        #expect(!h.apic.writeMSR(0x83F, 0xFF00_0000))
        #expect(!h.apic.writeMSR(0x80B, 1), "EOI takes 0 only")
        #expect(h.apic.writeMSR(0x80B, 0))
        #expect(h.apic.writeMSR(0x830, 0x0000_0001_0000_00FE), "ICR is 64 bits wide")
    }

    @Test func logicalDestinations() {
        let flat = LocalAPIC.Addressing(id: 1, logicalDestination: 0x0200_0000, destinationFormat: 0xFFFF_FFFF,
                                        x2APIC: false, softwareEnabled: true, taskPriority: 0)
        #expect(flat.matchesLogical(0x02))
        #expect(flat.matchesLogical(0x06))
        #expect(!flat.matchesLogical(0x04))
        #expect(flat.matchesLogical(0xFF), "broadcast")
        let cluster = LocalAPIC.Addressing(id: 1, logicalDestination: 0x3200_0000, destinationFormat: 0x0FFF_FFFF,
                                           x2APIC: false, softwareEnabled: true, taskPriority: 0)
        #expect(cluster.matchesLogical(0x32))
        #expect(!cluster.matchesLogical(0x22), "other cluster")
        let x2 = LocalAPIC.Addressing(id: 0x13, logicalDestination: 0x0001_0008, destinationFormat: 0,
                                      x2APIC: true, softwareEnabled: true, taskPriority: 0)
        #expect(x2.matchesLogical(0x0001_000C))
        #expect(!x2.matchesLogical(0x0000_0008))
        #expect(x2.matchesPhysical(0x13, x2APICMessage: true))
        #expect(x2.matchesPhysical(0xFFFF_FFFF, x2APICMessage: true))
        #expect(!x2.matchesPhysical(0xFF, x2APICMessage: true))
    }

    @Test func initResetsButKeepsTheID() {
        let h = Harness(id: 4, bootProcessor: false)
        h.enable()
        h.apic.accept(vector: 0x80)
        h.write(R.taskPriority, 0x20)
        h.apic.reset()
        #expect(h.apic.deliverableVector == nil)
        #expect(h.read(R.taskPriority) == 0)
        #expect(h.read(R.id) == 4 << 24)
        #expect(h.read(R.spuriousVector) == 0xFF)
    }
}
