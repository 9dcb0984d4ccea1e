import SwiftVMMPlatform
import SwiftVMMKVM
import SwiftVMMMemory


/// What `KVM_SET_GUEST_DEBUG` actually does on this host, found by running a few
/// instructions in a scratch VM (64-bit mode, 2 MiB of RAM). Nested KVM does not always
/// do what hardware KVM does: on the `kvm_pvm` development host, int3 ends in an
/// emulation failure instead of `KVM_EXIT_DEBUG`, data watchpoints never trigger, and
/// the guest TSC is the host's whatever offset is set, so it cannot be frozen.
public struct GuestDebugSupport: Equatable, Sendable, CustomStringConvertible {
    public enum SoftwareBreakpoints: Equatable, Sendable {
        /// int3 exits with `KVM_EXIT_DEBUG` (#BP), as api.rst describes.
        case debugExit
        /// int3 exits with `KVM_EXIT_INTERNAL_ERROR` (emulation failure) at its address,
        /// which the stub recognises as a planted breakpoint; the guest resumes normally.
        case emulationFailure
        case unavailable
    }
    public var softwareBreakpoints: SoftwareBreakpoints
    public var hardwareBreakpoints: Bool
    public var singleStep: Bool
    public var watchpoints: Bool
    /// Setting the vCPU's TSC offset moves the guest TSC (needed to freeze it while stopped).
    public var tscAdjustable: Bool

    public var description: String {
        let software = switch softwareBreakpoints {
        case .debugExit: "yes (KVM_EXIT_DEBUG)"
        case .emulationFailure: "yes (int3 arrives as an emulation failure on this host; recognised at planted addresses)"
        case .unavailable: "NO"
        }
        return """
            KVM guest debugging on this host: software breakpoints \(software); \
            hardware breakpoints \(hardwareBreakpoints ? "yes" : "NO"); single-step \(singleStep ? "yes" : "NO"); \
            data watchpoints \(watchpoints ? "yes" : "NO (DR0-3 data breakpoints never trigger here; watch/awatch are refused)"); \
            TSC frozen while stopped \(tscAdjustable ? "yes" : "NO (the TSC offset does not move the guest TSC here; the APIC, HPET, PIT and PM timers are frozen)")
            """
    }

    /// Runs the probe; a host where even the scratch VM fails reports nothing available.
    public static func probe(_ kvm: KVM) -> GuestDebugSupport {
        func run(_ instruction: [UInt8], _ settings: GuestDebugSettings) -> ProbeResult? {
            try? Probe(kvm: kvm).run(instruction, settings)
        }
        var software = GuestDebugSettings(); software.softwareBreakpoints = true
        var step = GuestDebugSettings(); step.singleStep = true
        var execute = GuestDebugSettings(); execute.addresses[0] = Probe.code + 2; execute.dr7 = 0b1
        var write = GuestDebugSettings(); write.addresses[0] = Probe.data; write.dr7 = 0b1 | 0b1101 << 16

        let softwareResult: SoftwareBreakpoints = switch run([0xCC], software) {
        case .debugExit(3, _)?: .debugExit
        case .emulationFailure(let rip)? where rip == Probe.code + 2: .emulationFailure
        default: .unavailable
        }
        return GuestDebugSupport(
            softwareBreakpoints: softwareResult,
            hardwareBreakpoints: run([0x90], execute) == .debugExit(1, Probe.code + 2),
            singleStep: run([0x90], step) == .debugExit(1, Probe.code + 2),
            watchpoints: run([0x90], write).map { if case .debugExit(1, _) = $0 { true } else { false } } ?? false,
            tscAdjustable: (try? Probe(kvm: kvm).tscOffsetMovesTSC()) ?? false)
    }

    enum ProbeResult: Equatable {
        case debugExit(UInt32, UInt64)
        case emulationFailure(rip: UInt64)
        case other
    }

    /// A one-vCPU VM in 64-bit mode running `inc eax; <probe>; inc eax; mov [data], eax;
    /// out 0xf4, al`, reporting the first exit.
    struct Probe {
        static let code: UInt64 = 0x1000
        static let data: UInt64 = 0x2000
        static let pageTables: UInt64 = 0x10000
        let vm: VirtualMachine
        let memory: GuestMemory
        let vcpu: VCPU

        init(kvm: KVM) throws {
            vm = try kvm.createVM()
            memory = try GuestMemory(layout: RAMLayout(size: 2 << 20))
            for (slot, region) in memory.slots.enumerated() {
                try vm.setMemoryRegion(slot: UInt32(slot), guestAddress: region.guestAddress, size: region.size, host: region.host)
            }
            vcpu = try vm.createVCPU(id: 0)
        }

        /// Moves the TSC offset back by 2^40 cycles (minutes) and looks whether the TSC followed.
        func tscOffsetMovesTSC() throws -> Bool {
            let before = try vcpu.msr(MSRPolicy.Index.timeStampCounter)
            try vcpu.setTSCOffset(try vcpu.tscOffset &- (1 << 40))
            return try vcpu.msr(MSRPolicy.Index.timeStampCounter) < before
        }

        func run(_ probe: [UInt8], _ settings: GuestDebugSettings) throws -> ProbeResult {
            // PML4 → PDPT → PD with one 2 MiB identity page (SDM Vol. 3A §4.5).
            try memory.write(UInt64(Self.pageTables + 0x1000 | 3), at: Self.pageTables)
            try memory.write(UInt64(Self.pageTables + 0x2000 | 3), at: Self.pageTables + 0x1000)
            try memory.write(UInt64(0x83), at: Self.pageTables + 0x2000)
            let program: [UInt8] = [0xFF, 0xC0] + probe + [0xFF, 0xC0, 0x89, 0x04, 0x25, 0x00, 0x20, 0x00, 0x00, 0xE6, 0xF4]
            try memory.write(program, at: Self.code)
            var sregs = try vcpu.specialRegisters()
            var code = KVMSegment()
            code.limit = 0xFFFF_FFFF; code.selector = 8; code.type = 11; code.present = 1; code.s = 1; code.l = 1; code.g = 1
            var data = code
            data.selector = 16; data.type = 3; data.l = 0; data.db = 1
            sregs.cs = code
            (sregs.ds, sregs.es, sregs.fs, sregs.gs, sregs.ss) = (data, data, data, data, data)
            sregs.cr3 = Self.pageTables; sregs.cr4 = 0x20; sregs.cr0 = 0x8000_0011; sregs.efer = 0x500
            try vcpu.setSpecialRegisters(sregs)
            var regs = KVMRegisters()
            regs.rip = Self.code; regs.rflags = 2; regs.rsp = 0x8000
            try vcpu.setRegisters(regs)
            try vcpu.setGuestDebug(settings)
            switch try vcpu.runOnce() {
            case .debug(let exception, let pc, _): return .debugExit(exception, pc)
            case .internalError(1, _, _): return .emulationFailure(rip: try vcpu.registers().rip)
            default: return .other
            }
        }
    }
}
