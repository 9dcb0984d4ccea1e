import SwiftVMMPlatform

/// One vCPU's local APIC, emulated in userspace (Intel SDM Vol. 3A chapter 11): the
/// xAPIC register page and the x2APIC MSRs, interrupt acceptance by priority, EOI, the
/// timer in one-shot, periodic and TSC-deadline modes, and IPIs through the ICR.
///
/// Touched only by its vCPU's thread. Everything from outside (IPIs, timer expiry) reaches
/// it through that vCPU's inbox; everything it sends out goes through `Environment`.
public final class LocalAPIC {
    /// How the APIC reaches the rest of the machine (injected, so tests pass fakes).
    public struct Environment {
        /// Guest TSC rate, and the APIC timer's bus clock (documented: 1 GHz, as KVM's).
        public var tscHz: UInt64
        public var busHz: UInt64 = LocalAPIC.busHz
        /// The guest's TSC now (an estimate from the host clock; exact values come with
        /// `timerExpired(atTSC:)`).
        public var now: () -> UInt64
        /// Arms the vCPU's timer for a guest-TSC deadline, or disarms it (nil).
        public var armTimer: (UInt64?) -> Void
        /// Routes an IPI written to the ICR.
        public var sendIPI: (InterprocessorInterrupt) -> Void
        /// Publishes ID, LDR, DFR, mode and TPR for the APIC bus's destination matching.
        public var addressingChanged: (Addressing) -> Void
        /// EOI of a level-triggered vector, broadcast to the I/O APIC (§11.8.5).
        public var levelEndOfInterrupt: (UInt8) -> Void
        /// EOI of an edge-triggered vector. Hardware sends it nowhere; the VMM tells the I/O
        /// APIC, so a timer that owes ticks on an edge pin knows the last one was taken.
        public var edgeEndOfInterrupt: (UInt8) -> Void
        /// IA32_APIC_BASE changed (the CPU's view of it: CPUID.1:EDX.APIC follows EN).
        public var baseChanged: (UInt64) -> Void
        /// The guest's MAXPHYADDR (CPUID 0x80000008 EAX[7:0]): base bits from it up are reserved.
        public var physicalAddressBits: Int
        /// CPUID.1:ECX.x2APIC: without it, IA32_APIC_BASE.EXTD is reserved.
        public var x2APICSupported: Bool

        public init(tscHz: UInt64, now: @escaping () -> UInt64, armTimer: @escaping (UInt64?) -> Void,
                    sendIPI: @escaping (InterprocessorInterrupt) -> Void, addressingChanged: @escaping (Addressing) -> Void,
                    levelEndOfInterrupt: @escaping (UInt8) -> Void = { _ in },
                    edgeEndOfInterrupt: @escaping (UInt8) -> Void = { _ in },
                    baseChanged: @escaping (UInt64) -> Void = { _ in },
                    physicalAddressBits: Int = 52, x2APICSupported: Bool = true) {
            self.tscHz = tscHz; self.now = now; self.armTimer = armTimer
            self.sendIPI = sendIPI; self.addressingChanged = addressingChanged
            self.levelEndOfInterrupt = levelEndOfInterrupt
            self.edgeEndOfInterrupt = edgeEndOfInterrupt
            self.baseChanged = baseChanged
            self.physicalAddressBits = physicalAddressBits
            self.x2APICSupported = x2APICSupported
        }
    }

    /// The APIC timer's input clock, as the platform sets it (`Layout.localAPICBusHz`).
    public static let busHz: UInt64 = Layout.localAPICBusHz
    /// Shortest periodic timer period, in bus clocks (50 µs): a guest programming a tinier
    /// period would otherwise keep its vCPU in interrupt delivery forever (KVM has the
    /// same guard, min_timer_period_us).
    public static let minimumPeriod: UInt64 = 50_000

    public let id: UInt32
    /// The xAPIC ID register's ID (bits 31:24): `id` until the guest writes another.
    var xAPICID: UInt32
    var environment: Environment

    // MARK: Registers (one field per architectural register)
    // `base`, `interruptRequest` and `lvt` are read after every exit (is an interrupt
    // deliverable?); as only this vCPU's thread touches the APIC, their dynamic exclusivity
    // checks (a runtime call per access) are turned off.
    /// IA32_APIC_BASE.
    @exclusivity(unchecked) public internal(set) var base: UInt64
    var taskPriority: UInt32 = 0
    var logicalDestination: UInt32 = 0
    var destinationFormat: UInt32 = 0xFFFF_FFFF
    var spuriousVector: UInt32 = 0xFF
    var inService = VectorSet()
    var triggerMode = VectorSet()
    @exclusivity(unchecked) var interruptRequest = VectorSet()
    var errorStatus: UInt32 = 0
    var pendingErrors: UInt32 = 0
    var interruptCommand: UInt64 = 0
    /// LVT entries: CMCI, timer, thermal, performance, LINT0, LINT1, error.
    @exclusivity(unchecked) var lvt = [UInt32](repeating: LocalAPIC.lvtMasked, count: 7)
    var timerInitialCount: UInt32 = 0
    var timerDivide: UInt32 = 0
    var tscDeadline: UInt64 = 0

    // MARK: Timer state
    /// Guest TSC at which the timer next expires; nil when disarmed.
    var timerDeadline: UInt64?
    /// Periodic reload length in guest TSC cycles.
    var timerPeriod: UInt64 = 0

    private static let lvtIndex: [UInt32: Int] = [
        Register.lvtCMCI: 0, Register.lvtTimer: 1, Register.lvtThermal: 2, Register.lvtPerformance: 3,
        Register.lvtLINT0: 4, Register.lvtLINT1: 5, Register.lvtError: 6,
    ]

    public init(id: UInt32, isBootProcessor: Bool, environment: Environment) {
        self.id = id
        xAPICID = id & 0xFF
        self.environment = environment
        base = Layout.localAPICBase | Self.baseEnabled | (isBootProcessor ? Self.baseBSP : 0)
        publishAddressing()
    }

    // MARK: Modes

    /// IA32_APIC_BASE.EN: the APIC is globally enabled.
    public var hardwareEnabled: Bool { base & Self.baseEnabled != 0 }
    /// IA32_APIC_BASE.EXTD: x2APIC mode (§11.12.1).
    public var x2APICMode: Bool { hardwareEnabled && base & Self.baseExtended != 0 }
    /// SVR bit 8.
    public var softwareEnabled: Bool { spuriousVector & Self.softwareEnable != 0 }
    /// Guest-physical base of the xAPIC register page, when the page is decoded.
    public var mmioBase: UInt64? { hardwareEnabled && !x2APICMode ? base & 0x000F_FFFF_FFFF_F000 : nil }

    private var timerLVT: UInt32 { lvt[1] }
    private var timerMode: TimerMode { TimerMode(rawValue: timerLVT >> 17 & 3) ?? .oneShot }

    // MARK: INIT (§9.4.1 and §11.4.7.3: INIT resets the APIC but keeps its ID and base)

    public func reset() {
        taskPriority = 0
        logicalDestination = 0
        destinationFormat = 0xFFFF_FFFF
        spuriousVector = 0xFF
        inService = VectorSet(); triggerMode = VectorSet(); interruptRequest = VectorSet()
        errorStatus = 0; pendingErrors = 0; interruptCommand = 0
        lvt = [UInt32](repeating: Self.lvtMasked, count: 7)
        timerInitialCount = 0; timerDivide = 0; tscDeadline = 0
        disarmTimer()
        publishAddressing()
    }

    /// Power-up (§11.4.7.1), as when the machine wakes from ACPI S3: the base back at
    /// 0xFEE00000, globally enabled in xAPIC mode, the ID the hardware gave, then the state
    /// INIT resets.
    public func powerOn() {
        let before = base
        base = Layout.localAPICBase | Self.baseEnabled | base & Self.baseBSP
        xAPICID = id & 0xFF
        reset()
        if base != before { environment.baseChanged(base) }
    }

    // MARK: Interrupt acceptance (§11.8)

    /// A fixed interrupt arriving from the APIC bus or a local source: set in IRR (and in
    /// TMR when level-triggered). Vectors 0–15 are illegal (§11.5.3).
    public func accept(vector: UInt8, levelTriggered: Bool = false) {
        guard hardwareEnabled else { return }
        guard vector >= 16 else {
            pendingErrors |= Self.receiveIllegalVector
            return
        }
        interruptRequest.insert(vector)
        if levelTriggered { triggerMode.insert(vector) } else { triggerMode.remove(vector) }
    }

    /// PPR (§11.8.3.1): the higher of TPR and the in-service priority class.
    public var processorPriority: UInt32 {
        let isrv = UInt32(inService.highest ?? 0)
        return taskPriority >> 4 >= isrv >> 4 ? taskPriority & 0xFF : isrv & 0xF0
    }

    /// The vector to deliver now, if any: the highest IRR vector whose priority class is
    /// above PPR's (§11.8.3), with the APIC software-enabled.
    public var deliverableVector: UInt8? {
        guard let vector = interruptRequest.highest, hardwareEnabled, softwareEnabled else { return nil }
        return UInt32(vector) >> 4 > processorPriority >> 4 ? vector : nil
    }

    /// Whether the timer's expiry now would raise a new interrupt: its LVT entry is unmasked
    /// and its vector is not already requested (a second request merges in IRR, §11.8.4).
    /// While it would not, the vCPU need not leave the guest when the timer expires: the
    /// expiry is taken at the next exit, with the same result.
    public var timerExpiryRaisesInterrupt: Bool {
        timerLVT & Self.lvtMasked == 0 && !interruptRequest.contains(UInt8(truncatingIfNeeded: timerLVT))
    }

    /// The vCPU took `vector` (INTA): IRR → ISR (§11.8.4).
    public func startService(_ vector: UInt8) {
        interruptRequest.remove(vector)
        inService.insert(vector)
    }

    /// EOI (§11.8.5): the highest in-service vector is done; for a level-triggered one
    /// (TMR set) the EOI is broadcast to the I/O APIC, unless SVR bit 12 suppresses it.
    private func endOfInterrupt() {
        guard let vector = inService.highest else { return }
        inService.remove(vector)
        if !triggerMode.contains(vector) {
            environment.edgeEndOfInterrupt(vector)
        } else if spuriousVector & Self.suppressEOIBroadcast == 0 {
            environment.levelEndOfInterrupt(vector)
        }
    }

    /// CR8, the task priority's class (SDM Vol. 3A §11.8.6.1, "Task Priority in IA-32e
    /// Mode"): MOV to CR8 sets TPR[7:4] and clears TPR[3:0]; MOV from CR8 reads TPR[7:4].
    /// KVM holds CR8 for a userspace APIC; the vCPU loop passes it both ways at each exit.
    public var cr8: UInt64 {
        get { UInt64(taskPriority >> 4) }
        set {
            guard newValue & 0xF != UInt64(taskPriority >> 4) else { return }
            taskPriority = UInt32(newValue & 0xF) << 4
            publishAddressing()
        }
    }

    // MARK: LINT0 and the 8259 (§11.5.1; MP Specification 1.4 §3.6.2.2 "virtual wire")

    /// Leaves LINT0 as ExtINT and LINT1 as NMI with the APIC software-enabled, as PC
    /// firmware does on the boot processor, so 8259 interrupts reach the CPU through the
    /// local APIC without the kernel programming it ("virtual wire mode").
    public func configureVirtualWire() {
        spuriousVector = Self.softwareEnable | 0xFF
        lvt[4] = DeliveryMode.extINT << 8
        lvt[5] = DeliveryMode.nmiMode << 8
        publishAddressing()
    }

    /// LINT0 passes the 8259's INTR through: ExtINT delivery mode, unmasked. The vector then
    /// comes from the 8259's INTA cycle and bypasses IRR, ISR and priority (§11.5.1).
    public var acceptsExtINT: Bool {
        hardwareEnabled && lvt[4] & Self.lvtMasked == 0 && lvt[4] >> 8 & 7 == DeliveryMode.extINT
    }

    // MARK: xAPIC MMIO (§11.4.1; 32-bit aligned accesses to 16-byte-spaced registers)

    public func readMMIO(offset: UInt64, size: Int) -> UInt64 {
        let register = UInt32(offset & 0xFF0)
        let value = UInt64(read(register) ?? 0)
        return value >> (8 * (offset & 3))
    }

    public func writeMMIO(offset: UInt64, size: Int, value: UInt64) {
        guard offset & 0xF == 0 else { return }
        write(UInt32(offset & 0xFF0), UInt32(truncatingIfNeeded: value))
    }

    // MARK: MSRs: IA32_APIC_BASE, IA32_TSC_DEADLINE, x2APIC range (§11.12.1.2)

    /// RDMSR; nil means #GP.
    public func readMSR(_ index: UInt32) -> UInt64? {
        switch index {
        case MSR.apicBase: return base
        case MSR.tscDeadline: return timerMode == .tscDeadline ? tscDeadline : 0
        case MSR.x2APICRange:
            guard x2APICMode else { return nil }
            let register = (index - 0x800) << 4
            if register == Register.interruptCommandLow { return interruptCommand }
            guard ![Register.interruptCommandHigh, Register.destinationFormat, Register.endOfInterrupt,
                    Register.selfIPI, Register.arbitrationPriority, Register.remoteRead].contains(register) else { return nil }
            return read(register).map(UInt64.init)
        default: return nil
        }
    }

    /// WRMSR; false means #GP.
    public func writeMSR(_ index: UInt32, _ value: UInt64) -> Bool {
        switch index {
        case MSR.apicBase: return writeBase(value)
        case MSR.tscDeadline:
            guard timerMode == .tscDeadline else { return true }  // ignored in other modes
            tscDeadline = value
            if value == 0 { disarmTimer() } else { armTimer(at: value) }
            return true
        case MSR.x2APICRange:
            guard x2APICMode else { return false }
            let register = (index - 0x800) << 4
            // §11.12.1.3: non-zero writes to reserved bits raise #GP. Every x2APIC register
            // but the ICR is 32 bits wide; SELF IPI holds only a vector (Table 11-6), and
            // EOI takes only 0 (§11.12.1.2, Table 11-6 note).
            if register != Register.interruptCommandLow, value >> 32 != 0 { return false }
            switch register {
            case Register.interruptCommandLow:
                interruptCommand = value
                sendInterprocessorInterrupt()
                return true
            case Register.selfIPI:
                guard value & ~0xFF == 0 else { return false }
                accept(vector: UInt8(truncatingIfNeeded: value))
                return true
            case Register.endOfInterrupt where value != 0:
                return false
            case Register.id, Register.version, Register.processorPriority, Register.logicalDestination,
                 Register.timerCurrentCount, Register.interruptCommandHigh, Register.destinationFormat,
                 Register.arbitrationPriority, Register.remoteRead:
                return false  // read-only or absent in x2APIC mode
            case Register.inService..<Register.errorStatus:
                return false
            default:
                guard Self.lvtIndex[register] != nil || [Register.taskPriority, Register.endOfInterrupt,
                      Register.spuriousVector, Register.errorStatus, Register.timerInitialCount,
                      Register.timerDivide].contains(register) else { return false }
                write(register, UInt32(truncatingIfNeeded: value))
                return true
            }
        default: return false
        }
    }

    /// IA32_APIC_BASE writes (§11.4.4, §11.12.5 state transitions): x2APIC → xAPIC
    /// directly, disabled → x2APIC directly, or EXTD without EN, is invalid; so are the
    /// reserved bits (§11.12.1, Figure 11-26: 7:0, 9, MAXPHYADDR and up; EXTD without x2APIC
    /// support). BSP (bit 8) is read-only.
    private func writeBase(_ value: UInt64) -> Bool {
        var reserved: UInt64 = 0xFF | 1 << 9
        if environment.physicalAddressBits < 64 { reserved |= ~0 << UInt64(environment.physicalAddressBits) }
        if !environment.x2APICSupported { reserved |= Self.baseExtended }
        guard value & reserved == 0 else { return false }
        let enabling = value & Self.baseEnabled != 0, extended = value & Self.baseExtended != 0
        if extended && !enabling { return false }
        if x2APICMode && enabling && !extended { return false }
        if !hardwareEnabled && extended { return false }
        let wasEnabled = hardwareEnabled, before = base
        base = value & ~Self.baseBSP | base & Self.baseBSP
        // The x2APIC ID takes over in x2APIC mode; a global disable resets the APIC as at
        // power-up, ID included (§11.4.3; INIT keeps the ID, §11.4.7.3).
        if x2APICMode || !hardwareEnabled { xAPICID = id & 0xFF }
        if wasEnabled && !hardwareEnabled { reset() }
        publishAddressing()
        if base != before { environment.baseChanged(base) }
        return true
    }

    // MARK: Register file

    private func read(_ register: UInt32) -> UInt32? {
        switch register {
        case Register.id: return x2APICMode ? id : xAPICID << 24
        case Register.version: return Self.versionValue
        case Register.taskPriority: return taskPriority
        case Register.arbitrationPriority, Register.remoteRead, Register.endOfInterrupt: return 0
        case Register.processorPriority: return processorPriority
        case Register.logicalDestination: return x2APICMode ? x2APICLogicalID : logicalDestination
        case Register.destinationFormat: return destinationFormat
        case Register.spuriousVector: return spuriousVector
        case Register.inService..<Register.triggerMode: return inService.word(Int(register - Register.inService) >> 4)
        case Register.triggerMode..<Register.interruptRequest: return triggerMode.word(Int(register - Register.triggerMode) >> 4)
        case Register.interruptRequest..<Register.errorStatus: return interruptRequest.word(Int(register - Register.interruptRequest) >> 4)
        case Register.errorStatus: return errorStatus
        case Register.interruptCommandLow: return UInt32(truncatingIfNeeded: interruptCommand)  // delivery status 0: sent
        case Register.interruptCommandHigh: return UInt32(truncatingIfNeeded: interruptCommand >> 32)
        case Register.timerInitialCount: return timerInitialCount
        case Register.timerCurrentCount: return currentCount
        case Register.timerDivide: return timerDivide
        default:
            if let index = Self.lvtIndex[register] { return lvt[index] }
            return nil
        }
    }

    private func write(_ register: UInt32, _ value: UInt32) {
        switch register {
        case Register.id:
            // §11.4.6: writable in xAPIC mode (KVM allows it; kernels rarely do it). The
            // x2APIC ID is read-only and never reaches here.
            xAPICID = value >> 24
            publishAddressing()
        case Register.taskPriority:
            taskPriority = value & 0xFF
            publishAddressing()
        case Register.endOfInterrupt: endOfInterrupt()
        case Register.logicalDestination:
            logicalDestination = value & 0xFF00_0000
            publishAddressing()
        case Register.destinationFormat:
            destinationFormat = value | 0x0FFF_FFFF
            publishAddressing()
        case Register.spuriousVector:
            spuriousVector = value & 0x13FF
            if !softwareEnabled { for i in lvt.indices { lvt[i] |= Self.lvtMasked } }
            publishAddressing()
        case Register.errorStatus:
            // §11.5.3: a write latches the errors found since the last write, then clears them.
            errorStatus = pendingErrors
            pendingErrors = 0
        case Register.interruptCommandLow:
            interruptCommand = interruptCommand & 0xFFFF_FFFF_0000_0000 | UInt64(value & 0x000C_CFFF)
            sendInterprocessorInterrupt()
        case Register.interruptCommandHigh:
            interruptCommand = UInt64(value & 0xFF00_0000) << 32 | interruptCommand & 0xFFFF_FFFF
        case Register.timerInitialCount:
            guard timerMode != .tscDeadline else { return }  // ignored in TSC-deadline mode
            timerInitialCount = value
            startCounting()
        case Register.timerDivide:
            timerDivide = value & 0xB
        case Register.lvtTimer:
            let oldMode = timerMode
            lvt[1] = maskedIfDisabled(value & 0x0007_10FF)
            if (oldMode == .tscDeadline) != (timerMode == .tscDeadline) {
                // §11.5.4.1: switching to or from TSC-deadline mode disarms the timer.
                timerInitialCount = 0
                tscDeadline = 0
                disarmTimer()
            }
        default:
            if let index = Self.lvtIndex[register] {
                let writable: UInt32 = index == 4 || index == 5 ? 0x0001_A7FF : (index == 6 ? 0x0001_00FF : 0x0001_07FF)
                lvt[index] = maskedIfDisabled(value & writable)
            }
        }
    }

    private func maskedIfDisabled(_ value: UInt32) -> UInt32 {
        softwareEnabled ? value : value | Self.lvtMasked
    }

    /// x2APIC logical ID (§11.12.10.2): cluster (ID bits 31:4) in 31:16, one bit for ID bits 3:0.
    private var x2APICLogicalID: UInt32 { (id >> 4) << 16 | 1 << (id & 0xF) }

    func publishAddressing() {
        environment.addressingChanged(Addressing(
            id: id, logicalDestination: x2APICMode ? x2APICLogicalID : logicalDestination,
            destinationFormat: destinationFormat, x2APIC: x2APICMode, softwareEnabled: softwareEnabled,
            taskPriority: taskPriority, xAPICID: xAPICID == id ? nil : xAPICID))
    }

    // MARK: IPIs (§11.6)

    private func sendInterprocessorInterrupt() {
        let low = UInt32(truncatingIfNeeded: interruptCommand)
        guard let mode = DeliveryMode(rawValue: low >> 8 & 7) else { return }
        let ipi = InterprocessorInterrupt(
            vector: UInt8(truncatingIfNeeded: low), mode: mode, logical: low & 1 << 11 != 0,
            assert: low & 1 << 14 != 0, levelTriggered: low & 1 << 15 != 0,
            shorthand: Shorthand(rawValue: low >> 18 & 3)!,
            destination: x2APICMode ? UInt32(interruptCommand >> 32) : UInt32(interruptCommand >> 56),
            source: id, x2APIC: x2APICMode)
        if (mode == .fixed || mode == .lowestPriority), ipi.vector < 16 {
            pendingErrors |= Self.sendIllegalVector
            return
        }
        environment.sendIPI(ipi)
    }

    // MARK: Timer (§11.5.4)

    /// Divide configuration (bits 0, 1, 3) → divisor 2, 4, …, 128, or 1 for 0b1011.
    private var timerDivisor: UInt64 {
        let value = (timerDivide & 3) | (timerDivide & 8) >> 1
        return value == 7 ? 1 : 2 << UInt64(value)
    }

    /// Guest TSC cycles for `counts` APIC timer counts.
    private func tscCycles(forCounts counts: UInt64) -> UInt64 {
        let product = UInt128(counts) * UInt128(timerDivisor) * UInt128(environment.tscHz)
        return UInt64(clamping: product / UInt128(environment.busHz))
    }

    /// Writing the initial count (re)starts one-shot or periodic counting; 0 stops it.
    private func startCounting() {
        guard timerInitialCount != 0 else {
            disarmTimer()
            return
        }
        var counts = UInt64(timerInitialCount)
        if timerMode == .periodic { counts = max(counts * timerDivisor, Self.minimumPeriod) / timerDivisor }
        timerPeriod = tscCycles(forCounts: counts)
        armTimer(at: environment.now() &+ timerPeriod)
    }

    /// The current count register: counts left until expiry at the bus clock; 0 when
    /// stopped, expired (one-shot) or in TSC-deadline mode. A masked timer still counts.
    private var currentCount: UInt32 {
        guard timerMode != .tscDeadline, let deadline = timerDeadline, timerPeriod > 0 else { return 0 }
        let now = environment.now()
        var remaining = deadline > now ? deadline - now : 0
        if timerMode == .periodic, remaining == 0 { remaining = timerPeriod - (now - deadline) % timerPeriod }
        let counts = UInt128(remaining) * UInt128(environment.busHz) / (UInt128(environment.tscHz) * UInt128(timerDivisor))
        return UInt32(clamping: min(counts, UInt128(timerInitialCount)))
    }

    private func armTimer(at deadline: UInt64) {
        timerDeadline = deadline
        environment.armTimer(deadline)
    }

    private func disarmTimer() {
        timerDeadline = nil
        environment.armTimer(nil)
    }

    /// The timer service says the deadline has come; `now` is the guest TSC read on this
    /// vCPU. Never early: if `now` is before the deadline, the timer is armed again.
    /// Periodic timers that fell behind stay on their phase and deliver one interrupt
    /// (a real APIC coalesces in IRR too), never a burst.
    public func timerExpired(atTSC now: UInt64) {
        guard let deadline = timerDeadline else { return }
        guard now >= deadline else {
            environment.armTimer(deadline)
            return
        }
        if timerLVT & Self.lvtMasked == 0 { accept(vector: UInt8(truncatingIfNeeded: timerLVT)) }
        switch timerMode {
        case .periodic:
            let periods = (now - deadline) / timerPeriod + 1
            armTimer(at: deadline &+ periods &* timerPeriod)
        case .oneShot:
            timerDeadline = nil
        case .tscDeadline:
            tscDeadline = 0
            timerDeadline = nil
        }
    }
}

/// A set of the 256 interrupt vectors (the IRR, ISR and TMR registers).
struct VectorSet: Equatable {
    /// Vectors 64·w … 64·w + 63 in word w, inline (no allocation), bounds-checked.
    private var words = InlineArray<4, UInt64>(repeating: 0)

    static func == (a: VectorSet, b: VectorSet) -> Bool { (0..<4).allSatisfy { a.words[$0] == b.words[$0] } }

    private subscript(word: Int) -> UInt64 {
        get { words[word] }
        set { words[word] = newValue }
    }

    mutating func insert(_ vector: UInt8) { self[Int(vector >> 6)] |= 1 << UInt64(vector & 63) }
    mutating func remove(_ vector: UInt8) { self[Int(vector >> 6)] &= ~(1 << UInt64(vector & 63)) }
    func contains(_ vector: UInt8) -> Bool { self[Int(vector >> 6)] & 1 << UInt64(vector & 63) != 0 }

    var highest: UInt8? {
        for word in (0..<4).reversed() where self[word] != 0 {
            return UInt8(word * 64 + 63 - self[word].leadingZeroBitCount)
        }
        return nil
    }

    /// The 32-bit register `index` (0–7) of the architectural 8 × 32-bit layout.
    func word(_ index: Int) -> UInt32 { UInt32(truncatingIfNeeded: self[index / 2] >> (32 * UInt64(index % 2))) }
}
