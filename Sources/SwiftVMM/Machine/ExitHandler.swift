import SwiftVMMPlatform
import SwiftVMMSupport
import SwiftVMMDevices
import SwiftVMMKVM

/// What the vCPU loop does after an exit has been handled.
enum ExitAction: Equatable {
    /// Re-enter the guest.
    case resume
    /// The guest executed HLT: sleep until something can wake it.
    case halt
    /// The guest cannot continue: a fault to report.
    case fault(reason: String, instruction: [UInt8])
}

/// Handles one vCPU exit against the machine's devices and this vCPU's local APIC. A
/// function of the exit and those, so it is tested with scripted exits and no /dev/kvm
/// (RunLoopTests).
struct ExitHandler {
    let ports: PortBus
    let mmio: MMIOBus
    let msrs: MSRPolicy
    /// This vCPU's userspace local APIC (nil with KVM's in-kernel irqchip).
    let localAPIC: LocalAPIC?
    /// This vCPU's TSC (for MSRs that count with it).
    let readTSC: () -> UInt64?
    /// `Configuration.addedExitLatency`.
    var addedLatency: Duration? = nil

    /// Spends `addedLatency` on this thread, as slower exit handling would.
    func addLatency() {
        guard let addedLatency else { return }
        let clock = ContinuousClock()
        let end = clock.now + addedLatency
        while clock.now < end {}
    }

    func handle(_ exit: VCPUExit) -> ExitAction {
        switch exit {
        case .io(let io):
            handlePortIO(io)
            return .resume
        case .mmio(let access):
            if let apic = localAPIC, let base = apic.mmioBase, (base..<base + 0x1000).contains(access.address) {
                if access.isWrite {
                    apic.writeMMIO(offset: access.address - base, size: access.data.count, value: access.data.loadLittleEndian())
                } else {
                    access.data.storeLittleEndian(apic.readMMIO(offset: access.address - base, size: access.data.count))
                }
            } else if access.isWrite {
                mmio.write(address: access.address, size: access.data.count, value: access.data.loadLittleEndian())
            } else {
                access.data.storeLittleEndian(mmio.read(address: access.address, size: access.data.count))
            }
            return .resume
        case .msrRead(let access):
            let value = if let apic = localAPIC, LocalAPIC.MSR.owned(access.index) {
                apic.readMSR(access.index)
            } else if access.rejectedByKVM {
                nil as UInt64?   // KVM's verdict on an MSR it handles: #GP, whatever the policy
            } else {
                msrs.read(access.index, tsc: readTSC)
            }
            if let value { access.reply(value) } else { access.fault() }
            return .resume
        case .msrWrite(let access):
            let accepted = if let apic = localAPIC, LocalAPIC.MSR.owned(access.index) {
                apic.writeMSR(access.index, access.value)
            } else if access.rejectedByKVM {
                false
            } else {
                msrs.write(access.index, access.value)
            }
            if accepted { access.reply(0) } else { access.fault() }
            return .resume
        case .halt:
            return .halt
        case .interruptWindow, .interrupted, .taskPriorityLowered:
            return .resume
        case .shutdown:
            return .fault(reason: "triple fault (KVM_EXIT_SHUTDOWN)", instruction: [])
        case .internalError(let suberror, let data, let instruction):
            let name = [1: "emulation failure", 2: "simultaneous exceptions", 3: "delivery event", 4: "unexpected exit reason"][suberror] ?? "unknown"
            let detail = data.isEmpty ? "" : ", data " + data.map { hex($0) }.joined(separator: " ")
            return .fault(reason: "KVM internal error, suberror \(suberror) (\(name))\(detail)", instruction: instruction)
        case .failEntry(let reason, let cpu):
            return .fault(reason: "VM entry failed, hardware reason \(hex(reason)) on host CPU \(cpu)", instruction: [])
        case .systemEvent(let type):
            return .fault(reason: "unexpected system event \(type)", instruction: [])
        case .debug(let exception, let pc, _):
            // Only reaches here when no debugger claimed it (see `DebugController`).
            return .fault(reason: "unexpected debug exit, exception \(exception) at \(hex(pc))", instruction: [])
        case .unknown(let reason):
            return .fault(reason: "unhandled KVM exit reason \(reason)", instruction: [])
        }
    }

    /// `in`/`out`, and the string forms, which carry `count` items of `size` bytes.
    private func handlePortIO(_ io: PortIO) {
        for offset in stride(from: 0, to: io.count * io.size, by: io.size) {
            if io.isWrite {
                ports.write(port: io.port, size: io.size, value: UInt32(truncatingIfNeeded: io.data.loadLittleEndian(at: offset, size: io.size)))
            } else {
                io.data.storeLittleEndian(UInt64(ports.read(port: io.port, size: io.size)), at: offset, size: io.size)
            }
        }
    }
}
