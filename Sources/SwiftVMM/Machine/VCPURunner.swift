import Logging
#if canImport(Glibc)
import Glibc
#endif
import SwiftVMMDebug
import SwiftVMMKVM
import SwiftVMMPlatform
import SwiftVMMSupport
import SwiftVMMDevices

/// One vCPU's thread: pin, wait to be started, then take the inbox → inject → `KVM_RUN` →
/// handle the exit, until the machine stops. Every exit of this vCPU, and its local APIC,
/// are handled on this thread; other threads only post to its inbox and wake it.
final class VCPURunner: @unchecked Sendable {
    let vcpu: any VirtualCPU
    /// The userspace local APIC; nil with KVM's in-kernel irqchip.
    let localAPIC: LocalAPIC?
    /// The 8259 pair, reached through LINT0 when it is in ExtINT mode.
    private let externalInterrupts: (any ExternalInterruptController)?
    let inbox = InterruptInbox()
    private let control: RunControl
    private let handler: ExitHandler
    private let hostCPU: Int?
    private let logger: Logger
    /// This vCPU's local APIC timer deadline and interrupt-window poll, and the POSIX timer
    /// that kicks this thread for them.
    let alarm: VCPUAlarm
    /// The gdb stub's all-stop control, when a debugger may attach.
    private let debug: DebugController?
    /// Where this vCPU parks while a snapshot is taken.
    private let snapshots: SnapshotStop?
    /// `--trace`: handles and records each exit (nil: the handler is called directly).
    private let tracer: ExitTracer?
    /// The last exits, for fault reports.
    let recentExits = ExitRing()

    /// Lifecycle, owned by this thread (§9.4: APs wait for SIPI after reset and after INIT).
    /// This and the other per-exit fields below are touched only by this thread, so their
    /// dynamic exclusivity checks (a runtime call per access) are turned off.
    /// `suspended`: the machine is in ACPI S3 and this, the boot processor, waits for the
    /// wake (the APs wait for start-up meanwhile).
    enum RunState: String, Sendable, Codable { case waitingForStartup, running, halted, suspended }
    @exclusivity(unchecked) private(set) var runState: RunState
    private let isBootCPU: Bool

    /// Guards `sleeping`, `blocked` and `thread`, shared with posting threads.
    private let lock = ConditionLock()
    /// Asleep in `sleep(blocking:)`; a post clears it and wakes the thread.
    private var sleeping = false
    /// Counted in `control.blockedCount`: asleep where no maskable interrupt can wake it.
    private var blocked = false
    /// Exits by kind (`Machine.statistics`).
    let exits = ExitCounters()
    /// What the thread is doing, for fault reports.
    let status = AnnotatedMutex("not started")
    /// This vCPU's thread while `run()` runs (nil before and after), for kicks. Kicks are
    /// sent with `lock` held and `run()` clears it under `lock` before it returns, so a
    /// late kick (a timer firing or another vCPU's IPI while the machine stops) never
    /// reaches a thread that has been joined: `pthread_kill` on one is undefined.
    private var thread: pthread_t?

    /// What every runner of a machine shares: the run's control, the log, the debugger and
    /// the exit tracer.
    struct Shared {
        var control: RunControl
        var logger: Logger
        var debug: DebugController? = nil
        var tracer: ExitTracer? = nil
        /// Where the vCPUs park while a snapshot is taken.
        var snapshots: SnapshotStop? = nil
    }

    /// `externalInterrupts` is the 8259 pair, for the boot processor with SwiftVMM's
    /// irqchip; `hostCPU` the host CPU to pin this thread to; `runState` where a vCPU
    /// restored from a snapshot was (nil: where reset leaves it).
    init(vcpu: any VirtualCPU, localAPIC: LocalAPIC?, externalInterrupts: (any ExternalInterruptController)?,
         isBootCPU: Bool, handler: ExitHandler, alarm: VCPUAlarm, hostCPU: Int?, shared: Shared, runState: RunState? = nil) {
        (self.vcpu, self.localAPIC, self.externalInterrupts, self.isBootCPU) = (vcpu, localAPIC, externalInterrupts, isBootCPU)
        (self.handler, self.alarm, self.hostCPU) = (handler, alarm, hostCPU)
        (control, logger, debug, tracer, snapshots) = (shared.control, shared.logger, shared.debug, shared.tracer, shared.snapshots)
        // With KVM's irqchip, KVM itself holds APs until INIT/SIPI.
        self.runState = runState ?? (isBootCPU || localAPIC == nil ? .running : .waitingForStartup)
        // A restored vCPU's NMI state is KVM's (VCPUState.events): ask before injecting.
        nmiMayBeHeld = runState != nil
        isRestored = runState != nil
    }

    /// Restored from a snapshot: `kvm_run`'s flags (RFLAGS.IF, ready for injection) say
    /// nothing until KVM has been entered once.
    private let isRestored: Bool

    // MARK: From other threads

    func post(vector: UInt8, levelTriggered: Bool = false) {
        deliver { $0.post(vector: vector, levelTriggered: levelTriggered) }
    }
    func post(_ event: InterruptInbox.Events, startupVector: UInt8 = 0, wakingVector: UInt32 = 0) {
        deliver { $0.post(event, startupVector: startupVector, wakingVector: wakingVector) }
    }

    /// Puts something in the inbox, then makes sure the thread sees it: a sleeping thread
    /// is woken (and no longer counted as blocked); a running one is kicked out of KVM_RUN.
    private func deliver(_ change: (InterruptInbox) -> Void) {
        change(inbox)
        lock.withLock {
            if blocked {
                blocked = false
                control.unblock()
            }
            if sleeping {
                sleeping = false
                lock.broadcast()
            } else if let thread, thread != pthread_self() {
                KickSignal.send(to: thread)
            }
        }
    }

    /// Wakes the thread wherever it is (the machine is stopping).
    func wake() {
        lock.withLock {
            lock.broadcast()
            if let thread { KickSignal.send(to: thread) }
        }
    }

    // MARK: The thread

    func run() {
        let insideRun = KickSignal.blockInCurrentThread()
        lock.withLock { thread = pthread_self() }
        defer { lock.withLock { thread = nil } }
        if let hostCPU, !CPUAffinity.pinCurrentThread(to: hostCPU) {
            logger.warning("vCPU \(vcpu.id): cannot pin to host CPU \(hostCPU)")
        }
        do {
            try vcpu.setSignalMask(blocking: insideRun)
            try alarm.start()
            defer { alarm.stop() }
            // A KVM_RUN that returns at once fills them in (api.rst, "immediate_exit").
            if isRestored { try vcpu.completePendingOperation() }
            while !control.isStopping {
                if let debug, debug.isHolding {
                    try debug.park(self)
                    alarm.clockChanged()   // the machine clock stood still meanwhile
                    continue
                }
                if let snapshots, snapshots.isHolding {
                    snapshots.park(vcpu.id, capture: captureForSnapshot)
                    continue
                }
                let wokenByEvent = try takeInbox()
                if alarm.takeTimerIfDue(), let localAPIC {
                    localAPIC.timerExpired(atTSC: try vcpu.msr(MSRPolicy.Index.timeStampCounter))
                }
                updateTimerWakes()
                switch runState {
                case .waitingForStartup:
                    setStatus("waiting for start-up")
                    sleep(blocking: true)
                    continue
                case .suspended:
                    // Not blocked: the wake event comes from a device, not from a vCPU.
                    setStatus("suspended to RAM (ACPI S3)")
                    sleep(blocking: false)
                    continue
                case .halted:
                    let interruptsEnabled = vcpu.interruptsEnabled
                    if wokenByEvent || (interruptsEnabled && hasDeliverableInterrupt) {
                        runState = .running
                    } else {
                        setStatus("halted")
                        sleep(blocking: !interruptsEnabled)
                        continue
                    }
                case .running:
                    break
                }
                setStatus("running")
                try injectPendingInterrupt()
                updateTimerWakes()   // an injection took a vector out of IRR
                if let cr8 = localAPIC?.cr8 { vcpu.cr8 = cr8 }   // a TPR written through MMIO
                let exit = try vcpu.runOnce()
                localAPIC?.cr8 = vcpu.cr8                       // a MOV to CR8 in the guest
                exits.record(exit)
                if case .interrupted = exit { KickSignal.consumePending() }
                if let debug, debug.claim(exit, on: vcpu) { continue }
                let action = if let tracer { tracer.handle(exit, on: vcpu, with: handler) } else { handler.handle(exit) }
                handler.addLatency()
                recentExits.record(exit)
                switch action {
                case .resume:
                    continue
                case .halt:
                    runState = .halted
                case .fault(let reason, let instruction):
                    control.finish(.guestFault(FaultReport(vcpu: vcpu.id, reason: reason, instruction: [], cpus: [])),
                                   fault: .init(vcpu: vcpu.id, reason: reason, instruction: instruction))
                }
            }
        } catch {
            control.finish(.hostError("vCPU \(vcpu.id): \(error)"))
        }
    }

    /// The last status this thread published; only a change takes the lock, so the exit
    /// loop does not lock on every pass.
    @exclusivity(unchecked) private var publishedStatus = ""

    private func setStatus(_ text: String) {
        guard text != publishedStatus else { return }
        publishedStatus = text
        status.withLock { $0 = text }
    }

    /// Moves everything posted into the local APIC and the vCPU: S3 suspend and resume,
    /// INIT, then SIPI, NMI, fixed vectors. True when an NMI, INIT or SIPI arrived (these
    /// wake a halted CPU whatever its IF).
    private func takeInbox() throws(KVMError) -> Bool {
        guard !inbox.isEmpty, let localAPIC else { return false }
        let (events, nmis, startupVector, wakingVector, vectors) = inbox.take()
        if events.contains(.suspend) {
            // Power is off: the APIC comes back as at power-up; an AP waits for start-up.
            localAPIC.powerOn()
            runState = isBootCPU ? .suspended : .waitingForStartup
        }
        if events.contains(.resume), runState == .suspended {
            localAPIC.configureVirtualWire()
            try vcpu.enterRealMode(codeSegment: UInt16(wakingVector >> 4), offset: UInt16(wakingVector & 0xF))
            runState = .running
        }
        if events.contains(.initialize), runState != .suspended {
            localAPIC.reset()
            runState = .waitingForStartup
        }
        if events.contains(.startup), runState == .waitingForStartup {
            try vcpu.startUp(vector: startupVector)
            runState = .running
        }
        // KVM keeps one NMI in service and one pending; more at once merge, as on hardware.
        // The count, not the flag, says how many (a take can see a count whose flag is set
        // just after it, and the next take then sees the flag alone).
        let newNMIs = runState == .running || runState == .halted ? min(nmis, 2) : 0
        for _ in 0..<newNMIs { try vcpu.injectNMI() }
        if newNMIs > 0 { nmiMayBeHeld = true }
        if runState != .suspended { for (vector, level) in vectors { localAPIC.accept(vector: vector, levelTriggered: level) } }
        return newNMIs > 0 || !events.intersection([.initialize, .startup]).isEmpty
    }

    /// With a userspace APIC, KVM needs to be told: inject the highest deliverable vector
    /// when the guest can take it now, otherwise ask KVM to exit when it can
    /// (DESIGN-NOTES, "Injecting with a userspace irqchip").
    ///
    /// KVM_EXIT_IRQ_WINDOW_OPEN can come late: on the nested kvm_pvm host it arrives about
    /// 730 µs after the guest re-enables interrupts (measured; KVM's in-kernel APIC is as
    /// late there). So while a window is requested, the vCPU is also kicked now and then
    /// and looks again (`VCPUAlarm.pollInterruptWindow`); where the window exit is prompt
    /// (hardware KVM) the poll is disarmed before it fires.
    private func injectPendingInterrupt() throws(KVMError) {
        // `localAPIC?.` rather than binding it up front: a binding retains the APIC on
        // every exit, and this runs after every exit.
        guard localAPIC != nil else { return }
        var wantWindow = false
        let fromPIC = hasExtINT
        let fromAPIC = fromPIC ? nil : localAPIC?.deliverableVector
        if fromPIC || fromAPIC != nil {
            if vcpu.readyForInterruptInjection && vcpu.interruptsEnabled, try !kvmHoldsNMI() {
                if fromPIC, let pic = externalInterrupts {
                    try vcpu.inject(vector: pic.acknowledge())
                } else if let vector = fromAPIC, let localAPIC {
                    try vcpu.inject(vector: vector)
                    localAPIC.startService(vector)
                }
                wantWindow = hasDeliverableInterrupt
            } else {
                wantWindow = true
            }
        }
        vcpu.requestInterruptWindow = wantWindow
        alarm.pollInterruptWindow(wantWindow)
    }

    /// Tells the alarm whether the local APIC timer's expiry would raise an interrupt now
    /// (after an expiry, an exit's register writes and an injection, which change that).
    private func updateTimerWakes() {
        if let wakes = localAPIC?.timerExpiryRaisesInterrupt { alarm.timerExpiry(wakes: wakes) }
    }

    /// NMIs went to KVM and one may still wait there (`kvmHoldsNMI`).
    @exclusivity(unchecked) private var nmiMayBeHeld = false

    /// Whether KVM still holds an NMI this thread gave it. An external interrupt queued now
    /// would go in first (KVM re-injects a queued interrupt before it looks at NMIs), where
    /// the CPU takes a pending NMI before INTR (SDM Vol. 3A §7.9, "Priority Among
    /// Concurrent Exceptions and Interrupts"); so the interrupt waits, with an interrupt
    /// window requested. Asks KVM only while an NMI may be held, so other exits pay nothing.
    private func kvmHoldsNMI() throws(KVMError) -> Bool {
        guard nmiMayBeHeld else { return false }
        nmiMayBeHeld = try vcpu.holdsNMI()
        return nmiMayBeHeld
    }

    /// An interrupt waits: from the 8259 through LINT0, or deliverable by the local APIC.
    private var hasDeliverableInterrupt: Bool {
        hasExtINT || localAPIC?.deliverableVector != nil
    }

    /// The 8259 asserts INT and LINT0 passes it through (ExtINT).
    private var hasExtINT: Bool {
        localAPIC?.acceptsExtINT == true && externalInterrupts?.hasInterrupt == true
    }

    /// A debugger or a snapshot holds every vCPU at the top of its loop.
    private var machineHolds: Bool { debug?.isHolding ?? false || snapshots?.isHolding ?? false }

    /// Sleeps until something is posted, the local APIC timer's deadline comes or the
    /// machine stops. `blocking`: nothing but NMI, INIT or SIPI can wake this vCPU; when
    /// every vCPU is so, that is a deadlock.
    private func sleep(blocking: Bool) {
        var everyoneBlocked = false
        lock.withLock {
            guard inbox.isEmpty, !control.isStopping, !machineHolds else { return }
            sleeping = true
            if blocking {
                blocked = true
                everyoneBlocked = control.block()
            }
        }
        if everyoneBlocked { control.finish(.deadlock) }
        lock.withLock {
            let deadline = alarm.sleepDeadline
            while sleeping && !control.isStopping && !machineHolds {
                if !lock.wait(untilNanoseconds: deadline) { break }
            }
            sleeping = false
            if blocked {
                blocked = false
                control.unblock()
            }
        }
    }
}
