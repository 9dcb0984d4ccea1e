extension LocalAPIC {
    /// Every register of the local APIC (Intel SDM Vol. 3A §11.4–§11.6) and its timer's
    /// deadline, as a snapshot keeps them. The timer's times are guest TSC cycles, as the
    /// APIC keeps them; the IRR, ISR and TMR are the eight 32-bit words the register page
    /// shows (§11.8.4, Figure 11-20).
    ///
    /// Interrupts still on their way to the APIC (IPIs in the vCPU's inbox) are not here:
    /// the machine delivers them before it takes a snapshot.
    package struct Snapshot: Sendable, Equatable, Codable {
        var xAPICID: UInt32
        var base: UInt64
        var taskPriority: UInt32
        var logicalDestination: UInt32
        var destinationFormat: UInt32
        var spuriousVector: UInt32
        var inService: [UInt32]
        var triggerMode: [UInt32]
        var interruptRequest: [UInt32]
        var errorStatus: UInt32
        var pendingErrors: UInt32
        var interruptCommand: UInt64
        var lvt: [UInt32]
        var timerInitialCount: UInt32
        var timerDivide: UInt32
        var tscDeadline: UInt64
        /// Guest TSC of the timer's next expiry; nil when disarmed.
        var timerDeadline: UInt64?
        var timerPeriod: UInt64

        /// The register arrays have their architectural lengths (a snapshot read from a
        /// file is checked before it is restored).
        package var isWellFormed: Bool {
            lvt.count == 7 && [inService, triggerMode, interruptRequest].allSatisfy { $0.count == 8 }
        }

        /// The same APIC `cycles` later in guest TSC, for a restore after a gap the host
        /// could not hide from the guest's TSC: an armed timer keeps the time it had left
        /// (a periodic one owes no ticks for the gap), and the IA32_TSC_DEADLINE register
        /// the guest reads moves with the TSC.
        package func advanced(by cycles: UInt64) -> Self {
            var moved = self
            moved.timerDeadline = timerDeadline.map { $0 &+ cycles }
            if tscDeadline != 0 { moved.tscDeadline = tscDeadline &+ cycles }
            return moved
        }
    }

    /// The APIC's registers now. Called on its vCPU's thread, or while that thread is
    /// parked (the APIC has no lock: only its vCPU's thread touches it).
    package func snapshot() -> Snapshot {
        Snapshot(xAPICID: xAPICID, base: base, taskPriority: taskPriority, logicalDestination: logicalDestination,
                 destinationFormat: destinationFormat, spuriousVector: spuriousVector,
                 inService: inService.registerWords, triggerMode: triggerMode.registerWords,
                 interruptRequest: interruptRequest.registerWords, errorStatus: errorStatus,
                 pendingErrors: pendingErrors, interruptCommand: interruptCommand, lvt: lvt,
                 timerInitialCount: timerInitialCount, timerDivide: timerDivide, tscDeadline: tscDeadline,
                 timerDeadline: timerDeadline, timerPeriod: timerPeriod)
    }

    /// Loads `snapshot` (`isWellFormed`) into this APIC (a new vCPU's, before it runs), publishes its
    /// addressing to the APIC bus and arms the timer for the deadline it holds. Delivers
    /// nothing: pending vectors stay in the IRR for the vCPU to take. IA32_APIC_BASE is not
    /// told again (`baseChanged`): KVM's copy comes back with the vCPU's own state (its
    /// special registers' apic_base), which is restored first.
    package func restore(_ snapshot: Snapshot) {
        xAPICID = snapshot.xAPICID
        base = snapshot.base
        taskPriority = snapshot.taskPriority
        logicalDestination = snapshot.logicalDestination
        destinationFormat = snapshot.destinationFormat
        spuriousVector = snapshot.spuriousVector
        inService = VectorSet(registerWords: snapshot.inService)
        triggerMode = VectorSet(registerWords: snapshot.triggerMode)
        interruptRequest = VectorSet(registerWords: snapshot.interruptRequest)
        errorStatus = snapshot.errorStatus
        pendingErrors = snapshot.pendingErrors
        interruptCommand = snapshot.interruptCommand
        lvt = snapshot.lvt
        timerInitialCount = snapshot.timerInitialCount
        timerDivide = snapshot.timerDivide
        tscDeadline = snapshot.tscDeadline
        timerDeadline = snapshot.timerDeadline
        timerPeriod = snapshot.timerPeriod
        publishAddressing()
        environment.armTimer(timerDeadline)
    }
}

extension VectorSet {
    /// The eight 32-bit words of the register page (vectors 32·i … 32·i + 31 in word i).
    var registerWords: [UInt32] { (0..<8).map(word) }

    /// The set the eight register words hold (missing words read as 0).
    init(registerWords: [UInt32]) {
        self.init()
        for (index, word) in registerWords.prefix(8).enumerated() {
            for bit in 0..<32 where word & 1 << UInt32(bit) != 0 { insert(UInt8(index * 32 + bit)) }
        }
    }
}
