import Logging
import SwiftVMMPlatform
import SwiftVMMSupport
import SwiftVMMBoot
import SwiftVMMDevices
import SwiftVMMKVM

/// The vCPUs as firmware hands them over: created with their TSCs started together at 0
/// (KVM synchronises host writes of 0; kvm_pvm ignores the write and shows the host TSC,
/// equally on every vCPU), with the MSRs KVM keeps at their reset values, each vCPU's
/// CPUID, and the boot processor at the kernel's entry.
struct VCPUSetup {
    let vcpus: [VCPU]
    /// The guest TSC rate KVM reports.
    let tscKHz: UInt32
    /// Each vCPU's CPUID, built once.
    let leaves: [[CPUIDEntry]]

    /// `entry` nil: a restored machine, whose registers come from its snapshot.
    init(_ configuration: Machine.Configuration, host: HostVM, entry: EntryState?) throws {
        for name in configuration.cpuFeatures.keys where CPUIDTable.features[name] == nil {
            throw MachineError.invalidConfiguration("unknown CPU feature \(name); known: \(CPUIDTable.features.keys.sorted().joined(separator: ", "))")
        }
        var vcpus: [VCPU] = []
        for id in 0..<configuration.cpus {
            let vcpu = try host.vm.createVCPU(id: id)
            vcpus.append(vcpu)
            guard entry != nil else { continue }   // a restored vCPU's MSRs all come from its snapshot
            try vcpu.setMSR(MSRPolicy.Index.timeStampCounter, 0)
            try vcpu.setMSR(MSRPolicy.Index.miscEnable, MSRPolicy.miscEnableReset)
            if host.nested == .vmx {
                // KVM checks its own copy before it lets the guest execute VMXON.
                try vcpu.setMSR(MSRPolicy.Index.featureControl, MSRPolicy.featureControl(nestedVMX: true))
            }
        }
        tscKHz = try vcpus[0].tscKHz()
        let cpuid = CPUIDTable(cpuCount: configuration.cpus, tscKHz: tscKHz, vendor: configuration.cpuVendor,
                               featureChanges: configuration.cpuFeatures, nested: host.nested, supported: host.supportedCPUID)
        leaves = vcpus.indices.map { cpuid.entries(for: $0) }
        for (id, vcpu) in vcpus.enumerated() { try vcpu.setCPUID(leaves[id]) }
        if let entry { try vcpus[0].enter(entry) }
        self.vcpus = vcpus
    }
}

/// Builds each vCPU's runner, with what it owns (its local APIC with SwiftVMM's irqchip,
/// its inbox, alarm and exit handler) and what every runner shares.
struct RunnerFactory {
    let board: Board
    let clock: MachineClock
    let apicBus: APICBus
    let msrs: MSRPolicy
    /// The run control, logger, debugger and tracer every runner is given.
    let shared: VCPURunner.Shared
    /// `Machine.Configuration.addedExitLatency`, for each exit handler.
    let addedExitLatency: Duration?

    func runner(for vcpu: VCPU, leaves: [CPUIDEntry], tscKHz: UInt32, hostCPU: Int?, userspaceAPIC: Bool,
                runState: VCPURunner.RunState? = nil) throws -> VCPURunner {
        let id = vcpu.id
        let guestClock = GuestClock(vcpu: vcpu, tscHz: UInt64(tscKHz) * 1000, clock: clock)
        let alarm = VCPUAlarm(clock: clock)
        // A TSC KVM cannot read is a host failure: the run ends with it (the value given
        // meanwhile is never acted on for long).
        let readClock: @Sendable () -> GuestClock.Reading? = { [control = shared.control] in
            do { return try guestClock.now() } catch {
                control.finish(.hostError("vCPU \(id): cannot read the guest TSC: \(error)"))
                return nil
            }
        }
        let localAPIC = userspaceAPIC
            ? LocalAPIC(id: UInt32(id), isBootProcessor: id == 0,
                        environment: localAPICEnvironment(vcpu, guestClock, alarm, readClock, leaves: leaves))
            : nil
        if id == 0 { localAPIC?.configureVirtualWire() }
        // KVM's copy (as baseChanged keeps it); a restored local APIC sets it itself.
        if let localAPIC, runState == nil { try vcpu.setMSR(LocalAPIC.MSR.apicBase, localAPIC.base) }
        let handler = ExitHandler(ports: board.ports, mmio: board.mmio, msrs: msrs, localAPIC: localAPIC,
                                  readTSC: { readClock()?.tsc }, addedLatency: addedExitLatency)
        return VCPURunner(vcpu: vcpu, localAPIC: localAPIC, externalInterrupts: id == 0 ? board.chipset?.pic : nil,
                          isBootCPU: id == 0, handler: handler, alarm: alarm, hostCPU: hostCPU,
                          shared: shared, runState: runState)
    }

    /// What a vCPU's local APIC reaches: its TSC and alarm, the APIC bus, the I/O APIC and
    /// KVM's copy of IA32_APIC_BASE.
    private func localAPICEnvironment(_ vcpu: VCPU, _ clock: GuestClock, _ alarm: VCPUAlarm,
                                      _ readClock: @escaping @Sendable () -> GuestClock.Reading?,
                                      leaves: [CPUIDEntry]) -> LocalAPIC.Environment {
        let (apicBus, chipset, logger, id) = (apicBus, board.chipset, shared.logger, vcpu.id)
        return LocalAPIC.Environment(
            tscHz: clock.tscHz, now: { readClock()?.tsc ?? 0 },
            armTimer: { deadline in
                // A deadline already passed is due now: the vCPU takes it before it next
                // enters the guest.
                alarm.armTimer(atNanoseconds: deadline.flatMap { deadline in
                    readClock().map { clock.hostNanoseconds(atTSC: deadline, from: $0) }
                })
            },
            sendIPI: { apicBus.deliver($0) },
            addressingChanged: { apicBus.update($0) },
            levelEndOfInterrupt: { chipset?.ioapic.endOfInterrupt(vector: $0) },
            edgeEndOfInterrupt: { chipset?.ioapic.edgeEndOfInterrupt(vector: $0) },
            baseChanged: { base in
                // KVM keeps its own copy of IA32_APIC_BASE even without its APIC and derives
                // CPUID.1:EDX.APIC from EN (kvm_lapic_set_base); the filter stops only the
                // guest's accesses, not this one.
                do { try vcpu.setMSR(LocalAPIC.MSR.apicBase, base) } catch {
                    logger.warning("vCPU \(id): KVM did not take APIC base \(hex(base)): \(error); CPUID.1:EDX.APIC may not follow it")
                }
            },
            physicalAddressBits: CPUIDTable.physicalAddressBits(in: leaves),
            x2APICSupported: CPUIDTable.hasX2APIC(in: leaves))
    }
}
