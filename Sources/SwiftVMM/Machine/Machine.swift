import CKVM
import Logging
import Synchronization
import SystemPackage

/// The whole computer: KVM VM, RAM, devices, ACPI tables, a loaded kernel and one
/// thread per vCPU. Build it from a `Configuration`, then `run()` it once.
///
/// The wiring, in order (`init`): open KVM → create the VM → map RAM → place devices →
/// write ACPI tables → load the kernel and boot information → create vCPUs.
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
    private let ran = Atomic<Bool>(false)
    private let wallTime = AnnotatedMutex<Duration>(.zero)

    /// `cmos` is what the RTC's battery kept from an earlier machine (after a reset).
    public init(_ configuration: Configuration, logger: Logger = Logger(label: "swiftvmm"),
                cmos: MC146818RTC.Backup = .poweredOn) throws(MachineError) {
        self.configuration = configuration
        self.logger = logger
        let cpus = configuration.cpus
        do {
            // The kernel's files first: a missing or unreadable kernel is reported before
            // /dev/kvm is opened.
            let payload = try configuration.bootPayload()
            kvm = try KVM()
            try kvm.require(KVM_CAP_X86_USER_SPACE_MSR, "KVM_CAP_X86_USER_SPACE_MSR")
            try kvm.require(KVM_CAP_X86_MSR_FILTER, "KVM_CAP_X86_MSR_FILTER")
            let maxCPUs = min(254, max(kvm.capability(KVM_CAP_MAX_VCPUS), 1))
            guard (1...maxCPUs).contains(cpus) else {
                throw MachineError.invalidConfiguration("--cpus \(cpus) is out of range: this host allows 1 to \(maxCPUs)")
            }
            let recommended = kvm.capability(KVM_CAP_NR_VCPUS)
            if recommended > 0, cpus > recommended {
                logger.warning("\(cpus) vCPUs is more than the \(recommended) KVM recommends for this host; they will share host CPUs")
            }
            guard configuration.memorySize >= 2 << 20 else {
                throw MachineError.invalidConfiguration("--memory \(configuration.memorySize >> 10)K is too small: at least 2 MiB")
            }

            vm = try kvm.createVM()
            try vm.setTSSAddress(Layout.kvmTSSAddress)
            memory = try GuestMemory(layout: RAMLayout(size: configuration.memorySize))
            for (slot, region) in memory.slots.enumerated() {
                try vm.setMemoryRegion(slot: UInt32(slot), guestAddress: region.guestAddress, size: region.size, host: region.host)
            }
            let userspaceAPIC = configuration.interruptController == .userspace
            if !userspaceAPIC {
                try vm.createIRQChip()
                try vm.createPIT()
                try vm.setPITReinjection(configuration.lostTicks == .delay)
            }
            // MSRs KVM does not answer reach userspace (unknown and invalid ones too, which
            // includes the x2APIC range without an in-kernel APIC), and the filter sends
            // those SwiftVMM answers itself.
            try vm.enable(KVM_CAP_X86_USER_SPACE_MSR, "KVM_CAP_X86_USER_SPACE_MSR",
                          argument: UInt64(KVM_MSR_EXIT_REASON_INVAL | KVM_MSR_EXIT_REASON_UNKNOWN | KVM_MSR_EXIT_REASON_FILTER))
            let supportedCPUID = try kvm.supportedCPUID()
            let nested = try NestedVirtualization.choose(requested: configuration.nested, supported: supportedCPUID)
            try vm.setMSRFilter(MSRPolicy.filter(kernelAPIC: !userspaceAPIC, nestedVMX: nested == .vmx,
                                                 overrides: configuration.msrOverrides))

            // The device timers and the APIC bus, which devices and vCPUs share. Timer slots:
            // the PIT, the HPET, the RTC (each vCPU keeps its local APIC's timer in its
            // VCPUAlarm).
            let machineClock = MachineClock()
            self.clock = machineClock
            let timers = TimerService(slots: 3, clock: machineClock)
            let apicBus = APICBus(cpuCount: cpus)
            self.timers = timers
            self.apicBus = apicBus

            // Devices.
            let control = RunControl(cpuCount: cpus)
            self.control = control
            ports = PortBus(name: "port", logger: logger)
            mmio = MMIOBus(name: "MMIO address", logger: logger)
            let chipset = userspaceAPIC ? Chipset(
                ioAPICID: UInt8(ACPITables(cpuCount: cpus).ioAPICID),
                pitTimer: DeviceTimer(now: { machineClock.now() }, arm: { timers.arm(0, atNanoseconds: $0) }),
                hpetTimer: DeviceTimer(now: { machineClock.now() }, arm: { timers.arm(1, atNanoseconds: $0) }),
                apicBus: apicBus, lostTicks: configuration.lostTicks) : nil
            self.chipset = chipset
            let acpi = ACPITables(cpuCount: cpus, hpetBlockID: chipset.map { UInt32(truncatingIfNeeded: $0.hpet.read(offset: 0, size: 4)) })
                .build(at: Layout.acpiArea.lowerBound)
            // Interrupt line n (ISA IRQ n below 16, else I/O APIC pin n) of whichever irqchip runs.
            let vm = self.vm
            func interruptLine(_ n: Int) -> any InterruptLine { chipset?.line(n) ?? KVMInterruptLine(vm: vm, gsi: UInt32(n)) }
            let com1IRQ = interruptLine(Layout.com1IRQ)
            // --exit-on watches COM1 and the VGA text mirror, each with its own line buffer.
            func watched(_ output: any SerialSink) throws(MachineError) -> any SerialSink {
                guard !configuration.exitOn.isEmpty else { return output }
                let status = configuration.exitOnStatus
                do {
                    return try LineMatchingSink(output: output, patterns: configuration.exitOn) {
                        control.finish(.outputMatched(pattern: $0, status: status))
                    }
                } catch {
                    throw MachineError.invalidConfiguration("--exit-on: not a valid regular expression: \(error)")
                }
            }
            serialMonitor = SerialMonitor(output: try watched(configuration.serialOutput))
            uart = Serial16550(sink: serialMonitor, irq: com1IRQ)
            try ports.place(uart, at: UInt64(Layout.com1), count: 8)
            if let output = configuration.serial2Output {
                let com2 = Serial16550(sink: output, irq: interruptLine(Layout.com2IRQ))
                try ports.place(com2, at: UInt64(Layout.com2), count: 8)
                self.com2 = com2
            } else {
                com2 = nil
            }
            if let output = configuration.vgaTextOutput {
                vgaText = VGATextMirror(memory: memory, sink: try watched(output))
            } else {
                vgaText = nil
            }
            let suspendToRAM = userspaceAPIC ? SuspendToRAM(facs: acpi.facs, memory: memory, control: control, logger: logger) : nil
            self.suspendToRAM = suspendToRAM
            let irq8 = chipset?.rtcIRQ8 ?? interruptLine(Layout.rtcIRQ)
            let rtc = MC146818RTC(backup: cmos, timer: DeviceTimer(now: { machineClock.now() }, arm: { timers.arm(2, atNanoseconds: $0) }),
                                  irq8: suspendToRAM?.watchingRTC(irq8) ?? irq8)
            self.rtc = rtc
            rtc.store(FirmwareCMOS.bytes(ram: memory.layout, cpus: cpus))
            try ports.place(rtc, at: UInt64(Layout.cmos), count: 2)
            let powerManagement = ACPIPowerManagement(powerOff: { control.finish(.poweredOff) }, suspend: {
                if let suspendToRAM { suspendToRAM.enter() } else {
                    logger.warning("the guest asked for ACPI S3; SwiftVMM suspends to RAM only with its own irqchip (--irqchip user)")
                }
            })
            try ports.place(powerManagement.eventBlock, at: UInt64(Layout.pm1aEvent), count: 4)
            try ports.place(powerManagement.control, at: UInt64(Layout.pm1aControl), count: 2)
            try ports.place(powerManagement.control, at: UInt64(Layout.bochsPowerOff), count: 2)
            try ports.place(ResetControl { control.finish(.reset) }, at: UInt64(Layout.resetControl), count: 1)
            let keyboardController = I8042 { control.finish(.reset) }
            try ports.place(keyboardController.data, at: UInt64(Layout.i8042Data), count: 1)
            try ports.place(keyboardController.command, at: UInt64(Layout.i8042Command), count: 1)
            try chipset?.place(ports: ports, mmio: mmio)
            try Machine.placeQEMUPorts(on: ports, mmio: mmio, configuration: configuration, memory: memory,
                                       serialOutput: serialMonitor, control: control, line: interruptLine)

            // Firmware tables, what firmware leaves running, then the kernel.
            try memory.write(acpi.image, at: Layout.acpiArea.lowerBound)
            if configuration.biosTimer {
                guard let chipset else { throw MachineError.invalidConfiguration("--bios-timer needs SwiftVMM's irqchip (--irqchip user)") }
                try Machine.leaveBIOSTimer(chipset: chipset, memory: memory,
                                           acpiEnd: Layout.acpiArea.lowerBound + UInt64(acpi.image.count))
            }
            let entry = try BootLoader.boot(payload, rsdp: acpi.rsdp, memory: memory)

            // vCPUs, their TSCs started together at 0 (KVM synchronises host writes of 0; kvm_pvm
            // ignores the write and shows the host TSC, equally on every vCPU).
            let (hostCPUs, cpuLease) = configuration.pinning.hostCPUs(count: cpus)
            self.cpuLease = cpuLease
            for name in configuration.cpuFeatures.keys where CPUIDTable.features[name] == nil {
                throw MachineError.invalidConfiguration("unknown CPU feature \(name); known: \(CPUIDTable.features.keys.sorted().joined(separator: ", "))")
            }
            var vcpus: [VCPU] = []
            for id in 0..<cpus {
                let vcpu = try vm.createVCPU(id: id)
                try vcpu.setMSR(VCPURunner.timeStampCounter, 0)
                try vcpu.setMSR(MSRPolicy.Index.miscEnable, MSRPolicy.miscEnableReset)
                if nested == .vmx {
                    // KVM checks its own copy before it lets the guest execute VMXON.
                    try vcpu.setMSR(MSRPolicy.Index.featureControl, MSRPolicy.featureControl(nestedVMX: true))
                }
                vcpus.append(vcpu)
            }
            tscKHz = try vcpus[0].tscKHz()
            let cpuid = CPUIDTable(cpuCount: cpus, tscKHz: tscKHz, vendor: configuration.cpuVendor,
                                   featureChanges: configuration.cpuFeatures, nested: nested, supported: supportedCPUID)
            let leaves = vcpus.indices.map { cpuid.entries(for: $0) }   // each vCPU's CPUID, built once
            for (id, vcpu) in vcpus.enumerated() { try vcpu.setCPUID(leaves[id]) }
            try vcpus[0].enter(entry)
            let msrs = MSRPolicy(tscKHz: tscKHz, cpuCount: cpus, unknown: configuration.msrPolicy,
                                 overrides: configuration.msrOverrides, nestedVMX: nested == .vmx, logger: logger)

            let (ram, host) = (memory, kvm)
            let debug = configuration.gdb.map {
                DebugController(cpuCount: cpus, memory: ram, control: control, clock: machineClock, timers: timers,
                                support: .probe(host), waitForDebugger: $0.waitForDebugger)
            }
            let tracer = try configuration.trace.map { options throws(MachineError) in try ExitTracer(options, cpuCount: cpus) }
            self.tracer = tracer
            var runners: [VCPURunner] = []
            for (id, vcpu) in vcpus.enumerated() {
                let inbox = InterruptInbox()
                let clock = GuestClock(vcpu: vcpu, tscHz: UInt64(tscKHz) * 1000, clock: machineClock)
                let alarm = VCPUAlarm(clock: machineClock)
                let localAPIC = userspaceAPIC ? LocalAPIC(id: UInt32(id), isBootProcessor: id == 0, environment: .init(
                    tscHz: clock.tscHz, now: { (try? clock.now().tsc) ?? 0 },
                    armTimer: { deadline in
                        // A deadline already passed is due now: the vCPU takes it before it
                        // next enters the guest.
                        alarm.armTimer(atNanoseconds: deadline.flatMap { deadline in
                            (try? clock.now()).map { clock.hostNanoseconds(atTSC: deadline, from: $0) }
                        })
                    },
                    sendIPI: { apicBus.deliver($0) },
                    addressingChanged: { apicBus.update($0) },
                    levelEndOfInterrupt: { chipset?.ioapic.endOfInterrupt(vector: $0) },
                    edgeEndOfInterrupt: { chipset?.ioapic.edgeEndOfInterrupt(vector: $0) },
                    baseChanged: { base in
                        // KVM keeps its own copy of IA32_APIC_BASE even without its APIC and
                        // derives CPUID.1:EDX.APIC from EN (kvm_lapic_set_base); the filter
                        // stops only the guest's accesses, not this one.
                        do { try vcpu.setMSR(LocalAPIC.MSR.apicBase, base) } catch {
                            logger.warning("vCPU \(id): KVM did not take APIC base \(hex(base)): \(error); CPUID.1:EDX.APIC may not follow it")
                        }
                    },
                    physicalAddressBits: CPUIDTable.physicalAddressBits(in: leaves[id]),
                    x2APICSupported: CPUIDTable.hasX2APIC(in: leaves[id]))) : nil
                if id == 0 { localAPIC?.configureVirtualWire() }
                if let localAPIC { try vcpu.setMSR(LocalAPIC.MSR.apicBase, localAPIC.base) }   // KVM's copy, as above
                let handler = ExitHandler(ports: ports, mmio: mmio, msrs: msrs, localAPIC: localAPIC,
                                          readTSC: { try? vcpu.msr(VCPURunner.timeStampCounter) },
                                          addedLatency: configuration.addedExitLatency)
                runners.append(VCPURunner(vcpu: vcpu, localAPIC: localAPIC, externalInterrupts: id == 0 ? chipset?.pic : nil, inbox: inbox, isBootCPU: id == 0, control: control,
                                          handler: handler, hostCPU: hostCPUs?[id], logger: logger,
                                          alarm: alarm, debug: debug, tracer: tracer))
            }
            debug?.attach(runners)
            gdbServer = try configuration.gdb.map { options throws(HostError) in
                try GDBServer(options, controller: debug!, control: control, logger: logger)
            }
            apicBus.attach(runners)
            suspendToRAM?.attach(runners, powerManagement)
            self.runners = runners
            let allRunners = runners
            control.wakeAll.withLock { $0 = { for runner in allRunners { runner.wake() }; debug?.wake() } }
        } catch let error as MachineError {
            throw error
        } catch let error as BootError {
            throw .boot(error)
        } catch let error as KVMError {
            throw .host(.kvm(error))
        } catch let error as HostError {
            throw .host(error)
        } catch let error as GuestMemoryError {
            throw .host(.memory(error))
        } catch {
            throw .host(.configuration("\(error)"))
        }
    }

    /// Runs the guest until it ends, the time limit passes or `stop` is called. Blocks the
    /// calling thread; every vCPU runs on a pthread of its own, all joined before it returns.
    public func run() -> Outcome {
        guard !ran.exchange(true, ordering: .acquiringAndReleasing) else {
            return .hostError("a Machine runs once; create a new one")
        }
        let started = ContinuousClock.now
        defer {
            wallTime.withLock { $0 = ContinuousClock.now - started }
            serialMonitor.close()
        }
        let deadline = configuration.timeout.map { monotonicNanoseconds() + $0.nanoseconds }
        var threads: [HostThread] = []
        var input: SerialInputPump?
        do {
            if let fd = configuration.serialInput { input = try SerialInputPump(input: fd, uart: uart) }
            try timers.start(handlers: [
                { [chipset, clock] in chipset?.pit.timerFired(now: clock.now()) },
                { [chipset, clock] in chipset?.hpet.timerFired(now: clock.now()) },
                { [rtc] in rtc.timerFired() },
            ])
            try vgaText?.start()
            try gdbServer?.start()
            for runner in runners {
                threads.append(try HostThread(name: "vcpu\(runner.vcpu.id)") { runner.run() })
            }
        } catch {
            control.finish(.hostError("\(error)"))
        }
        let timedOut = control.finished.withLock { () -> Bool in
            while control.outcome == nil {
                if !control.finished.wait(untilNanoseconds: deadline) { return control.outcome == nil }
            }
            return false
        }
        if timedOut { control.finish(.timedOut) }
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

    /// The vCPU runners, the APIC bus, the timer service, the run control and the gdb
    /// stub's controller refer to each other while the machine runs; cutting those
    /// references here frees them all (and so closes every vCPU fd) whether or not `run()`
    /// was called.
    deinit {
        control.wakeAll.withLock { $0 = nil }
        apicBus.attach([])
        suspendToRAM?.attach([], nil)
        gdbServer?.controller.attach([])
        timers.stop()
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
