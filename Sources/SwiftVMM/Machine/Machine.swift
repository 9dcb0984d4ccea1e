import Logging
import Synchronization
import SystemPackage
import SwiftVMMPlatform
import SwiftVMMSupport
import SwiftVMMBoot
import SwiftVMMDevices
import SwiftVMMKVM
import SwiftVMMMemory

/// The whole computer: KVM VM, RAM, devices, ACPI tables, a loaded kernel and one
/// thread per vCPU. Build it from a `Configuration`, then `run()` it once.
///
/// Built in steps (`init`): the host's KVM, the VM and its RAM (`HostVM`) → the devices
/// and ACPI tables (`Board`) → firmware state and the kernel (`Board.loadFirmwareAndKernel`)
/// → the vCPUs (`VCPUSetup`) and their runners (`RunnerFactory`). Ownership flows one way:
/// the machine owns the runners and the devices; the links back to the runners are weak
/// (`RunnerLinks`), so freeing the machine frees everything and closes every fd.
public final class Machine: Sendable {
    public let configuration: Configuration
    let kvm: KVM
    let vm: VirtualMachine
    let memory: GuestMemory
    let ports: PortBus
    let mmio: MMIOBus
    let uart: Serial16550
    /// COM2, when the configuration gives it an output.
    let com2: Serial16550?
    /// The RTC and CMOS RAM; its battery-backed part outlives a reset (`MachineSession`).
    let rtc: MC146818RTC
    let vgaText: VGATextMirror?
    /// The 8259s, PIT, I/O APIC, HPET and PM timer (userspace irqchip only).
    let chipset: Chipset?
    let runners: [VCPURunner]
    let control: RunControl
    let logger: Logger
    /// The guest TSC rate KVM reports.
    public let tscKHz: UInt32
    /// Each vCPU's CPUID.
    let cpuid: [[CPUIDEntry]]
    let timers: TimerService
    let apicBus: APICBus
    /// Every byte COM1 transmits passes here (for `expect` and the serial streams).
    let serialMonitor: SerialMonitor
    /// The host CPUs the vCPUs are pinned to, when SwiftVMM chose them.
    private let cpuLease: HostCPUPool.Lease?
    /// The line after the last one `expect` matched.
    let expectCursor = AnnotatedMutex(0)
    /// Every guest-visible clock's time base (stands still while a debugger holds the machine).
    let clock: MachineClock
    /// The gdb remote stub, when configured.
    let gdbServer: GDBServer?
    /// `--trace`, when configured.
    let tracer: ExitTracer?
    /// ACPI S3 (userspace irqchip only).
    let suspendToRAM: SuspendToRAM?
    let ran = Atomic<Bool>(false)
    /// Where the vCPUs park while a snapshot is taken, and one snapshot at a time.
    let snapshots: SnapshotStop
    let snapshotLock = AnnotatedMutex<VCPUSnapshot.Request?>(nil)
    /// The devices a snapshot keeps (`DeviceSnapshots`).
    let board: Board
    private let wallTime = AnnotatedMutex<Duration>(.zero)

    /// `cmos` is what the RTC's battery kept from an earlier machine (after a reset).
    public convenience init(_ configuration: Configuration, logger: Logger = Logger(label: "swiftvmm"),
                            cmos: MC146818RTC.Backup = .poweredOn) throws(MachineError) {
        try self.init(configuration, logger: logger, cmos: cmos, restoring: nil)
    }

    /// A machine that continues from `snapshot` (`MachineSnapshot.fork`): `configuration`
    /// gives its outputs, input, time limit and `--exit-on` patterns; its shape (CPUs, RAM,
    /// irqchip) must be the snapshot's.
    public convenience init(restoring snapshot: MachineSnapshot, configuration: Configuration,
                            logger: Logger = Logger(label: "swiftvmm")) throws(MachineError) {
        try Self.check(configuration, continuing: snapshot.configuration)
        try self.init(configuration, logger: logger, cmos: .poweredOn,
                      restoring: Restoring(ram: snapshot.ram) { snapshot })
    }

    /// A machine that continues the snapshot saved in `directory` (`MachineSnapshot.save(to:)`),
    /// with the snapshot's configuration (serial output to `serialOutput`) changed by
    /// `configure`: its outputs, input, time limit and `--exit-on` patterns, not its shape.
    /// The same as loading the snapshot and forking it, but faster: the VM and its vCPUs
    /// are built while the file decodes.
    public convenience init(restoringFrom directory: FilePath, serialOutput: any SerialSink,
                            logger: Logger = Logger(label: "swiftvmm"),
                            configure: (inout Configuration) -> Void) throws(MachineError) {
        // The decoding and the building each on a CPU of its own, until the file is waited for.
        let split = CPUAffinity.Split()
        defer { split?.end() }
        let opened = try MachineSnapshot.open(directory, serialOutput: serialOutput, decodeCPU: split?.helperCPU)
        var configuration = opened.configuration
        configure(&configuration)
        try Self.check(configuration, continuing: opened.configuration)
        try self.init(configuration, logger: logger, cmos: .poweredOn,
                      restoring: Restoring(ram: opened.ram) { () throws(MachineError) in
                          defer { split?.end() }   // before the vCPUs' host CPUs are chosen from the caller's mask
                          return try opened.snapshot()
                      })
    }

    /// What a machine continues from: the snapshot's RAM image, needed first, and the
    /// snapshot itself, asked for once the VM and its vCPUs exist.
    private struct Restoring {
        let ram: RAMImage
        let snapshot: () throws(MachineError) -> MachineSnapshot
    }

    private static func check(_ wanted: Configuration, continuing taken: Configuration) throws(MachineError) {
        let (taken, wanted) = (taken.shape, wanted.shape)
        guard (wanted.cpus, wanted.memorySize, wanted.interruptController) == (taken.cpus, taken.memorySize, taken.interruptController) else {
            throw .invalidConfiguration("the snapshot is of a machine with \(taken.cpus) CPUs, \(taken.memorySize >> 20) MiB and the \(taken.interruptController) irqchip; this one would have \(wanted.cpus), \(wanted.memorySize >> 20) MiB and \(wanted.interruptController)")
        }
        guard wanted == taken else {
            throw .invalidConfiguration("the snapshot's machine has other devices, MSR or CPUID settings, or fw_cfg items than this one would (start from the snapshot's configuration)")
        }
    }

    private init(_ configuration: Configuration, logger: Logger, cmos: MC146818RTC.Backup,
                 restoring: Restoring?) throws(MachineError) {
        self.configuration = configuration
        self.logger = logger
        let cpus = configuration.cpus
        do {
            // The kernel's files first: a missing or unreadable kernel is reported before
            // /dev/kvm is opened.
            let payload = restoring == nil ? try configuration.bootPayload() : nil
            let host = try HostVM(configuration, logger: logger, image: restoring?.ram)
            (kvm, vm, memory) = (host.kvm, host.vm, host.memory)

            // What devices and vCPUs share: time, the device timers, the APIC bus, the run's end.
            let clock = MachineClock(), timers = TimerService(slots: Board.TimerSlot.count, clock: clock)
            let apicBus = APICBus(cpuCount: cpus), control = try RunControl(cpuCount: cpus)
            (self.clock, self.timers, self.apicBus, self.control) = (clock, timers, apicBus, control)
            let snapshots = SnapshotStop(cpuCount: cpus, control: control, holdsOnGuestRequest: configuration.snapshotOnPortWrite)
            self.snapshots = snapshots

            let board = try Board(configuration, host: host, clock: clock, timers: timers, apicBus: apicBus,
                                  control: control, cmos: cmos, logger: logger)
            (ports, mmio, chipset, serialMonitor) = (board.ports, board.mmio, board.chipset, board.serialMonitor)
            (uart, com2, vgaText, rtc, suspendToRAM) = (board.uart, board.com2, board.vgaText, board.rtc, board.suspendToRAM)
            self.board = board
            try Self.placeSnapshotPort(on: board.ports, restored: restoring != nil, snapshots: snapshots, control: control,
                                       configuration: configuration)
            let entry = try payload.map { payload in
                try board.loadFirmwareAndKernel(payload, configuration: configuration, memory: host.memory)
            }

            let setup = try VCPUSetup(configuration, host: host, entry: entry)
            (tscKHz, cpuid) = (setup.tscKHz, setup.leaves)
            // A snapshot still decoding from its file is waited for here, with the VM and its
            // vCPUs built.
            let snapshot = try restoring?.snapshot()
            let (hostCPUs, cpuLease) = configuration.pinning.hostCPUs(count: cpus)
            self.cpuLease = cpuLease
            let debug = configuration.gdb.map { [memory, kvm] in
                DebugController(cpuCount: cpus, memory: memory, control: control, clock: clock, timers: timers,
                                support: .probe(kvm), waitForDebugger: $0.waitForDebugger)
            }
            tracer = try configuration.trace.map { options throws(MachineError) in try ExitTracer(options, cpuCount: cpus) }
            let factory = RunnerFactory(
                board: board, clock: clock, apicBus: apicBus,
                msrs: MSRPolicy(tscKHz: setup.tscKHz, cpuCount: cpus, unknown: configuration.msrPolicy, overrides: configuration.msrOverrides,
                                nestedVMX: host.nested == .vmx, logger: logger),
                shared: .init(control: control, logger: logger, debug: debug, tracer: tracer, snapshots: snapshots),
                addedExitLatency: configuration.addedExitLatency)
            runners = try setup.vcpus.enumerated().map { id, vcpu in
                try factory.runner(for: vcpu, leaves: setup.leaves[id], tscKHz: setup.tscKHz, hostCPU: hostCPUs?[id],
                                   userspaceAPIC: host.userspaceAPIC, runState: snapshot?.vcpus[id].run)
            }
            if let options = configuration.gdb, let debug {
                gdbServer = try GDBServer(options, controller: debug, control: control, logger: logger)
            } else {
                gdbServer = nil
            }
            // The links back to the runners are weak: the machine owns them.
            let links = RunnerLinks(runners)
            debug?.attach(links)
            apicBus.attach(links)
            board.suspendToRAM?.attach(links, board.powerManagement)
            control.wakeAll.withLock {
                // Weak, as the links: `snapshots` holds `control`, which holds this closure.
                $0 = { [weak debug, weak snapshots] in
                    for runner in links.all { runner.wake() }
                    debug?.wake()
                    snapshots?.wake()
                }
            }
            if let snapshot { try restore(snapshot, vcpus: setup.vcpus) }
            debug?.saveSnapshot = { [weak self] directory in
                guard let self, let debug = self.gdbServer?.controller else { return "the machine is gone\n" }
                return self.saveSnapshot(heldBy: debug, to: directory)
            }
        } catch {
            throw MachineError(buildingMachine: error)
        }
    }

    /// Runs the guest until it ends, the time limit passes, `stop` is called or one of
    /// `signals` arrives (`.stopped(signal:)`). Blocks the calling thread; every vCPU runs on
    /// a pthread of its own, all joined before it returns.
    public func run(stoppingOn signals: SignalStop? = nil) -> Outcome {
        guard !ran.exchange(true, ordering: .acquiringAndReleasing) else {
            return .hostError("a Machine runs once; create a new one")
        }
        let started = ContinuousClock.now
        defer {
            wallTime.withLock { $0 = ContinuousClock.now - started }
            serialMonitor.close()
            snapshots.close()
        }
        let deadline = configuration.timeout.map { monotonicNanoseconds() + $0.nanoseconds }
        var threads: [HostThread] = []
        var input: SerialInputPump?
        do {
            if let fd = configuration.serialInput { input = try SerialInputPump(input: fd, uart: uart) }
            timers.start(handlers: [
                { [chipset, clock] in chipset?.pit.timerFired(now: clock.now()) },
                { [chipset, clock] in chipset?.hpet.timerFired(now: clock.now()) },
                { [rtc] in rtc.timerFired() },
            ], failed: { [control] in control.finish(.hostError("\($0)")) })
            try vgaText?.start()
            try gdbServer?.start()
            for runner in runners {
                threads.append(try HostThread(name: "vcpu\(runner.vcpu.id)") { runner.run() })
            }
        } catch {
            control.finish(.hostError("\(error)"))
        }
        if !control.waitForOutcome(untilNanoseconds: deadline, stoppingOn: signals) { control.finish(.timedOut) }
        input?.stop()
        for thread in threads { thread.join() }
        gdbServer?.join()
        timers.stop()
        vgaText?.stop()
        tracer?.finish()
        guard let (outcome, fault) = control.outcome else { return .hostError("no outcome") }
        if let fault { return .guestFault(faultReport(fault)) }
        return outcome
    }

    /// Wall time and VM exits per vCPU, so far (complete once `run()` has returned).
    public var statistics: RunStatistics {
        RunStatistics(wallTime: wallTime.withLock { $0 }, exits: runners.map(\.exits.snapshot), pitTicks: chipset?.pit.ticks,
                      hpetTicks: chipset?.hpet.ticks)
    }

    /// `--trace summary`: exit counts and handling time per kind, and what became of the
    /// PIT's ticks and the HPET comparators' matches, once `run()` returned.
    public var traceSummary: String? {
        tracer?.summary.map { summary in
            let statistics = statistics
            guard let pit = statistics.pitTicks else { return summary }
            let hpet = statistics.activeHPETTimers.map { "HPET timer \($0.index): \($0.ticks)\n" }
            return summary + "PIT channel 0: \(pit)\n" + hpet.joined()
        }
    }

    /// The port the gdb stub listens on (the one chosen by the host when 0 was asked for).
    public var gdbPort: UInt16? { gdbServer?.port }

    /// Ends the run (from any thread); `run()` returns `.stopped(signal:)`.
    public func stop(signal: Int32 = 0) {
        control.finish(.stopped(signal: signal))
    }
}

extension Duration {
    var nanoseconds: UInt64 {
        let (seconds, attoseconds) = components
        return UInt64(max(seconds, 0)) * 1_000_000_000 + UInt64(max(attoseconds, 0) / 1_000_000_000)
    }
}
