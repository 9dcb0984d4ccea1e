import SystemPackage
import SwiftVMMDevices
import SwiftVMMKVM
import SwiftVMMMemory
import SwiftVMMPlatform
import SwiftVMMSupport

/// Taking a snapshot of a running machine, and continuing a new machine from one.
///
/// Taking one: every vCPU parks at an instruction boundary and takes its own registers
/// (`SnapshotStop`); then the device timers are held (nothing fires, nothing half fired),
/// the machine clock and the boot processor's TSC are read together, and the inboxes,
/// the devices and RAM are taken. Then everything runs on.
///
/// Restoring, in this order (Firecracker #4666 and #4099 are what a wrong order costs):
/// 1. each vCPU's KVM state (`VCPU.restore`: special registers, then KVM's local APIC
///    where it has one, then the MSRs with the TSC before IA32_TSC_DEADLINE, events and
///    MP state last), then KVM's irqchip where it emulates one;
/// 2. the time: where the host honours the restored TSC, no time has passed for the
///    guest. Where it does not (kvm_pvm ignores guest TSC writes and offsets) the TSC
///    has moved on by Δ since the snapshot; every other clock of the machine then moves
///    on by the same Δ — the machine clock continues from the snapshot's time + Δ — and
///    every armed timer keeps the time it had left, owing no periodic ticks for the gap;
/// 3. the devices, then the local APICs, whose timers are re-armed, and the interrupts
///    that waited in the inboxes. Nothing is injected before the vCPU threads start.
extension Machine {
    /// Stops the running machine at an instruction boundary, takes everything, and lets it
    /// run on, or with `thenStop` ends the run there (`run()` returns `.stopped`), so that
    /// the guest goes no further than the snapshot. From any thread but a vCPU's, while
    /// `run()` runs. (Under gdb, `monitor snapshot DIR` takes one of the stopped machine.)
    public func snapshot(thenStop: Bool = false) throws(MachineError) -> MachineSnapshot {
        guard gdbServer == nil else {
            throw .invalidConfiguration("a snapshot cannot be taken of a machine a debugger may hold (--gdb); use gdb's monitor snapshot DIR")
        }
        guard ran.load(ordering: .acquiring), !control.isStopping else {
            throw .invalidConfiguration("a snapshot is taken of a running machine")
        }
        return try withSnapshotRequest { request throws(MachineError) in
            defer {
                if thenStop { stop() }   // before the vCPUs are released, also when taking it failed
                snapshots.release()
            }
            let vcpus = try snapshots.stopAll(request) { for runner in runners { runner.wake() } }
            return try takeRest(vcpus, tscAtStop: nil)
        }
    }

    /// `monitor snapshot DIR`, on the gdb server's thread while the debugger holds every
    /// vCPU: each takes its own state where it is parked, RAM is taken without the planted
    /// int3s, and the time is the stop's (guest time stands still while stopped).
    func saveSnapshot(heldBy debug: DebugController, to directory: String) -> String {
        do throws(MachineError) {
            let snapshot = try withSnapshotRequest { request throws(MachineError) in
                let vcpus = try debug.captureParkedVCPUs(request)
                return try debug.withBreakpointsLifted { () throws(MachineError) in
                    try takeRest(vcpus, tscAtStop: debug.stoppedAtTSC)
                }
            }
            try snapshot.save(to: FilePath(directory))
            return "snapshot saved to \(directory)\n"
        } catch {
            return "no snapshot: \(error)\n"
        }
    }

    /// One snapshot at a time, with what the vCPUs read of KVM (decided at the first).
    private func withSnapshotRequest<T>(_ body: (VCPUSnapshot.Request) throws(MachineError) -> T) throws(MachineError) -> T {
        try snapshotLock.withLock { (cached: inout VCPUSnapshot.Request?) throws(MachineError) -> T in
            if cached == nil { cached = try snapshotRequest() }
            guard let request = cached else { throw .invalidConfiguration("no snapshot request") }
            return try body(request)
        }
    }

    /// The rest of a snapshot, once every vCPU is still and has taken its state: the device
    /// timers are held, the machine clock and the boot processor's TSC read together (or
    /// `tscAtStop`, the TSC when a debugger stopped the machine, which then also replaces
    /// each vCPU's saved TSC: KVM's kept counting while gdb held the machine, and all run in
    /// step), then the inboxes, the devices and RAM are taken. The configuration kept is
    /// the machine's without what belongs to this run alone: its gdb stub and port-write hold.
    private func takeRest(_ taken: [VCPUSnapshot], tscAtStop: UInt64?) throws(MachineError) -> MachineSnapshot {
        var vcpus = taken
        if let tscAtStop {
            for index in vcpus.indices {
                for entry in vcpus[index].state.msrs.indices where vcpus[index].state.msrs[entry].index == MSRPolicy.Index.timeStampCounter {
                    vcpus[index].state.msrs[entry].value = tscAtStop
                }
            }
        }
        var kept = configuration
        (kept.gdb, kept.snapshotOnPortWrite) = (nil, false)
        timers.hold()
        defer { timers.release() }
        let machineTime = clock.now()
        let tsc: UInt64, devices: DeviceSnapshots
        do throws(KVMError) {
            if let tscAtStop { tsc = tscAtStop } else { tsc = try runners[0].vcpu.msr(MSRPolicy.Index.timeStampCounter) }
            devices = try DeviceSnapshots(board: board, vm: vm)
        } catch {
            throw .host(.kvm(error))
        }
        for index in vcpus.indices {
            vcpus[index].inbox = runners[index].inbox.takePending()
            runners[index].inbox.post(vcpus[index].inbox)   // this machine runs on with them
        }
        do throws(GuestMemoryError) {
            return MachineSnapshot(configuration: kept, ram: try memory.capture(), vcpus: vcpus, devices: devices,
                                   machineTime: machineTime, tsc: tsc, tscKHz: tscKHz, cpuid: cpuid)
        } catch {
            throw .host(.memory(error))
        }
    }

    /// Waits until the guest writes the snapshot port, with the configuration's
    /// `snapshotOnPortWrite` set: every vCPU then stands still, the writer right after its
    /// OUT, until `snapshot()` is taken or the run ends. Returns at once when the guest has
    /// asked and no snapshot has been taken since.
    public func snapshotRequested(within limit: Duration) async throws(ExpectError) {
        switch await snapshots.waitForGuestRequest(within: limit) {
        case .requested: return
        case .ended: throw .machineEnded(outcome: control.outcome?.outcome, lastLines: lastLinesForError)
        case .timedOut: throw .timedOut(after: limit, lastLines: lastLinesForError)
        case nil: throw .cancelled
        }
    }

    /// The snapshot port (`SnapshotPort`): reads 1 in a machine that continues a snapshot;
    /// a write holds the machine for one when the configuration says so.
    static func placeSnapshotPort(on ports: PortBus, restored: Bool, snapshots: SnapshotStop, control: RunControl,
                                  configuration: Configuration) throws {
        if configuration.snapshotOnPortWrite && configuration.gdb != nil {
            throw MachineError.invalidConfiguration("a snapshot port write cannot hold a machine a debugger may hold (--gdb)")
        }
        let port = SnapshotPort(restored: restored) {
            snapshots.guestRequested { control.wakeAll.withLock { $0 }?() }
        }
        try ports.place(port, at: UInt64(Layout.snapshotPort), count: 1)
    }

    /// What each vCPU reads of KVM for a snapshot on this host.
    private func snapshotRequest() throws(MachineError) -> VCPUSnapshot.Request {
        do {
            let extensions = try kvm.stateExtensions()
            return VCPUSnapshot.Request(msrIndices: try kvm.msrIndexList(), xsave: extensions.xsave,
                                        extendedControlRegisters: extensions.extendedControlRegisters,
                                        kernelLocalAPIC: chipset == nil)
        } catch {
            throw .host(.kvm(error))
        }
    }

    /// A snapshot continues only on a host that gives its vCPUs what they had: the same CPU
    /// vendor, the same CPUID and the same TSC rate (these machines change between AMD and
    /// Intel). Each mismatch says which.
    private func checkHost(against snapshot: MachineSnapshot) throws(MachineError) {
        func vendor(_ leaves: [[CPUIDEntry]]) -> String {
            guard let leaf = leaves.first?.first(where: { $0.function == 0 }) else { return "unknown" }
            let bytes = [leaf.ebx, leaf.edx, leaf.ecx].flatMap { word in (0..<4).map { UInt8(truncatingIfNeeded: word >> ($0 * 8)) } }
            return String(decoding: bytes, as: UTF8.self)
        }
        let (then, now) = (vendor(snapshot.cpuid), vendor(cpuid))
        guard then == now else { throw .invalidConfiguration("the snapshot was taken on a \(then) host; this one is \(now)") }
        for (index, (saved, current)) in zip(snapshot.cpuid, cpuid).enumerated() where saved != current {
            let differing = current.first { !saved.contains($0) } ?? saved.first { !current.contains($0) }
            let leaf = differing.map { "leaf \(hex($0.function)) index \($0.index)" } ?? "its number of leaves"
            throw .invalidConfiguration("vCPU \(index)'s CPUID differs from the snapshot's at \(leaf): the host's CPU is not the one the snapshot was taken on")
        }
        guard tscKHz == snapshot.tscKHz else {
            throw .invalidConfiguration("the snapshot's guest TSC ran at \(snapshot.tscKHz) kHz; this host's runs at \(tscKHz) kHz")
        }
    }

    /// Steps 1–3 of the restore order above, on a machine built for `snapshot` whose
    /// threads have not started.
    func restore(_ snapshot: MachineSnapshot, vcpus: [VCPU]) throws(MachineError) {
        try checkHost(against: snapshot)
        let gap: (cycles: UInt64, nanoseconds: UInt64)
        do throws(KVMError) {
            for (vcpu, saved) in zip(vcpus, snapshot.vcpus) { try vcpu.restore(saved.state) }
            if let chip = snapshot.devices.kernelIRQChip { try vm.restoreKernelIRQChip(chip) }
            let tsc = try vcpus[0].msr(MSRPolicy.Index.timeStampCounter)
            let cycles = tsc > snapshot.tsc ? tsc - snapshot.tsc : 0
            gap = (cycles, UInt64(clamping: UInt128(cycles) * 1_000_000 / UInt128(max(tscKHz, 1))))
        } catch {
            throw .host(.kvm(error))
        }
        clock.continueFrom(snapshot.machineTime &+ gap.nanoseconds)
        snapshot.devices.restore(into: board, advancedBy: gap.nanoseconds)
        for (runner, saved) in zip(runners, snapshot.vcpus) {
            if let apic = saved.localAPIC { runner.localAPIC?.restore(apic.advanced(by: gap.cycles)) }
            runner.inbox.post(saved.inbox)
        }
    }
}
