import Logging
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// One vCPU's thread: pin, wait to be started, then `KVM_RUN` → handle exit, until the
/// machine stops. Every exit of this vCPU is handled on this thread.
final class VCPURunner: @unchecked Sendable {
    let vcpu: VCPU
    private let control: RunControl
    private let handler: ExitHandler
    private let hostCPU: Int?
    private let logger: Logger

    /// Guards `blocked`, `started` and the sleep of a halted or waiting vCPU.
    private let lock = ConditionLock()
    /// Counted in `control.blockedCount` (halted with IF = 0, or not yet started).
    private var blocked: Bool
    /// The boot CPU starts at once; the others wait for INIT/SIPI.
    private var started: Bool
    /// What the thread is doing, for fault reports.
    let status = Mutex("not started")
    /// The thread id once running, for kicks (0 before).
    private let threadID = Atomic<UInt>(0)

    init(vcpu: VCPU, isBootCPU: Bool, control: RunControl, handler: ExitHandler, hostCPU: Int?, logger: Logger) {
        self.vcpu = vcpu
        self.control = control
        self.handler = handler
        self.hostCPU = hostCPU
        self.logger = logger
        started = isBootCPU
        blocked = !isBootCPU
    }

    /// Wakes the thread wherever it is: asleep (halted or waiting) or inside `KVM_RUN`.
    func wake() {
        lock.withLock { lock.broadcast() }
        let thread = threadID.load(ordering: .acquiring)
        if thread != 0 { KickSignal.send(to: pthread_t(thread)) }
    }

    /// The thread body.
    func run() {
        let insideRun = KickSignal.blockInCurrentThread()
        threadID.store(UInt(pthread_self()), ordering: .releasing)
        if let hostCPU, !CPUAffinity.pinCurrentThread(to: hostCPU) {
            logger.warning("vCPU \(vcpu.id): cannot pin to host CPU \(hostCPU)")
        }
        do {
            try vcpu.setSignalMask(blocking: insideRun)
            guard waitForStartup() else { return }
            status.withLock { $0 = "running" }
            while !control.isStopping {
                let exit = try vcpu.runOnce()
                if case .interrupted = exit { KickSignal.consumePending() }
                switch handler.handle(exit) {
                case .resume:
                    continue
                case .halt:
                    sleepWhileHalted()
                case .fault(let reason, let instruction):
                    control.finish(.guestFault(FaultReport(vcpu: vcpu.id, reason: reason, instruction: [], cpus: [])),
                                   fault: .init(vcpu: vcpu.id, reason: reason, instruction: instruction))
                }
            }
        } catch {
            control.finish(.hostError("vCPU \(vcpu.id): \(error)"))
        }
    }

    /// Application processors sleep here until started (INIT/SIPI) or the machine
    /// stops; false when it stopped first.
    private func waitForStartup() -> Bool {
        lock.withLock {
            if !started { status.withLock { $0 = "waiting for start-up" } }
            while !started && !control.isStopping { lock.wait() }
            return started
        }
    }

    /// HLT: sleep until something can wake the vCPU or the machine stops. A vCPU halted
    /// with interrupts disabled is blocked; when every vCPU is, that is the deadlock status.
    private func sleepWhileHalted() {
        status.withLock { $0 = "halted" }
        let interruptsEnabled = vcpu.interruptsEnabled
        let everyoneBlocked = lock.withLock { () -> Bool in
            guard !interruptsEnabled else { return false }
            blocked = true
            return control.block()
        }
        if everyoneBlocked { control.finish(.deadlock) }
        lock.withLock {
            while !control.isStopping { lock.wait() }
        }
        status.withLock { $0 = "running" }
    }
}
