import CKVM
import SystemPackage
import SwiftVMMPlatform
import SwiftVMMSupport

#if canImport(Glibc)
import Glibc
#endif

/// Everything KVM holds of one vCPU that a snapshot needs to continue it on a new vCPU:
/// the registers, the FPU, the MSRs KVM itself handles, pending events and the run state
/// (`api.rst` §4: KVM_GET_REGS, KVM_GET_SREGS, KVM_GET_FPU, KVM_GET_XSAVE, KVM_GET_XCRS,
/// KVM_GET_DEBUGREGS, KVM_GET_MSRS, KVM_GET_VCPU_EVENTS, KVM_GET_MP_STATE), and the local
/// APIC where KVM emulates it (`--irqchip kernel`; with SwiftVMM's own irqchip it is
/// SwiftVMM's state, not KVM's).
public struct VCPUState: Sendable {
    public var registers: kvm_regs
    public var specialRegisters: kvm_sregs
    /// KVM's local APIC registers (KVM_GET_LAPIC), with the in-kernel irqchip.
    public var localAPIC: kvm_lapic_state?
    public var fpu: kvm_fpu
    /// The XSAVE area (`struct kvm_xsave`, 4 KiB), where the host offers KVM_CAP_XSAVE.
    public var xsave: [UInt32]?
    /// XCR0 and friends, where the host offers KVM_CAP_XCRS.
    public var extendedControlRegisters: kvm_xcrs?
    public var debugRegisters: kvm_debugregs
    /// The MSRs KVM answers, in the order `restore` writes them back.
    public var msrs: [MSRValue]
    /// Pending and injected exceptions, interrupts, NMIs and SMIs, and the interrupt shadow.
    public var events: kvm_vcpu_events
    /// Running, halted, or waiting for INIT/SIPI (`KVM_MP_STATE_*`).
    public var multiprocessingState: UInt32
}

/// One MSR's index and value.
public struct MSRValue: Sendable, Equatable, Codable {
    public var index: UInt32
    public var value: UInt64

    public init(index: UInt32, value: UInt64) {
        self.index = index
        self.value = value
    }
}

extension KVM {
    /// Whether a vCPU's state on this host includes the XSAVE area (KVM_CAP_XSAVE) and the
    /// extended control registers (KVM_CAP_XCRS).
    public func stateExtensions() throws(KVMError) -> (xsave: Bool, extendedControlRegisters: Bool) {
        (try capability(KVM_CAP_XSAVE) != 0, try capability(KVM_CAP_XCRS) != 0)
    }

    /// `KVM_GET_MSR_INDEX_LIST`: the MSRs KVM saves and restores for a vCPU.
    public func msrIndexList() throws(KVMError) -> [UInt32] {
        // struct kvm_msr_list { __u32 nmsrs; __u32 indices[]; }, built as one UInt32 array.
        var capacity = 512
        while true {
            var buffer = [UInt32](repeating: 0, count: 1 + capacity)
            buffer[0] = UInt32(capacity)
            // SAFETY: the buffer holds the header and `capacity` indices, as nmsrs says.
            let result = buffer.withUnsafeMutableBytes { ckvm_ioctl_pointer(fd.rawValue, CKVM_GET_MSR_INDEX_LIST, $0.baseAddress) }
            if result >= 0 { return Array(buffer[1...].prefix(Int(buffer[0]))) }
            let error = Errno(rawValue: errno)
            guard error == .argListTooLong, Int(buffer[0]) > capacity, capacity < 1 << 16 else {
                throw .ioctl("KVM_GET_MSR_INDEX_LIST", error)
            }
            capacity = Int(buffer[0])
        }
    }
}

extension VCPU {
    /// The vCPU's state. `msrIndices` lists the MSRs to read (usually `KVM.msrIndexList()`);
    /// those KVM refuses to read on this host are left out. The vCPU must not be running.
    public func captureState(msrIndices: [UInt32], xsave: Bool, extendedControlRegisters: Bool,
                             localAPIC: Bool) throws(KVMError) -> VCPUState {
        var lapic: kvm_lapic_state?
        if localAPIC {
            var value = kvm_lapic_state()
            try IOCTL.call(fd, "KVM_GET_LAPIC", CKVM_GET_LAPIC, &value)
            lapic = value
        }
        var fpu = kvm_fpu()
        try IOCTL.call(fd, "KVM_GET_FPU", CKVM_GET_FPU, &fpu)
        var debugRegisters = kvm_debugregs()
        try IOCTL.call(fd, "KVM_GET_DEBUGREGS", CKVM_GET_DEBUGREGS, &debugRegisters)
        var events = kvm_vcpu_events()
        try IOCTL.call(fd, "KVM_GET_VCPU_EVENTS", CKVM_GET_VCPU_EVENTS, &events)
        var mpState = kvm_mp_state()
        try IOCTL.call(fd, "KVM_GET_MP_STATE", CKVM_GET_MP_STATE, &mpState)
        var xsaveArea: [UInt32]?
        if xsave {
            var area = [UInt32](repeating: 0, count: 1024)
            try xsaveCall("KVM_GET_XSAVE", CKVM_GET_XSAVE, &area)
            xsaveArea = area
        }
        var xcrs: kvm_xcrs?
        if extendedControlRegisters {
            var value = kvm_xcrs()
            try IOCTL.call(fd, "KVM_GET_XCRS", CKVM_GET_XCRS, &value)
            xcrs = value
        }
        return VCPUState(
            registers: try registers(), specialRegisters: try specialRegisters(), localAPIC: lapic, fpu: fpu,
            xsave: xsaveArea, extendedControlRegisters: xcrs, debugRegisters: debugRegisters,
            msrs: Self.restoreOrder(try readMSRs(msrIndices)), events: events,
            multiprocessingState: mpState.mp_state)
    }

    /// Writes `state` back, in the order the state depends on itself:
    /// 1. special registers first: CR0, CR4 and EFER decide what the rest means, and the
    ///    APIC base where the local APIC is;
    /// 2. KVM's local APIC, if any, before any interrupt can be injected;
    /// 3. general registers, FPU, XSAVE, XCRs and debug registers;
    /// 4. MSRs, the TSC before everything else (`restoreOrder`): KVM computes a TSC
    ///    deadline against the TSC it has, so the TSC must be the snapshot's first
    ///    (Firecracker #4666, a timer that fired at once or never after restore);
    /// 5. pending events: an exception or interrupt being injected stays injected;
    /// 6. the run state last: a vCPU that was halted or waiting for SIPI stays so.
    public func restore(_ state: VCPUState) throws(KVMError) {
        try setSpecialRegisters(state.specialRegisters)
        if var lapic = state.localAPIC {
            try IOCTL.call(fd, "KVM_SET_LAPIC", CKVM_SET_LAPIC, &lapic)
        }
        try setRegisters(state.registers)
        if var area = state.xsave {
            try xsaveCall("KVM_SET_XSAVE", CKVM_SET_XSAVE, &area)   // its legacy region is the FPU's state
        } else {
            var fpu = state.fpu
            try IOCTL.call(fd, "KVM_SET_FPU", CKVM_SET_FPU, &fpu)
        }
        if var xcrs = state.extendedControlRegisters {
            try IOCTL.call(fd, "KVM_SET_XCRS", CKVM_SET_XCRS, &xcrs)
        }
        var debugRegisters = state.debugRegisters
        try IOCTL.call(fd, "KVM_SET_DEBUGREGS", CKVM_SET_DEBUGREGS, &debugRegisters)
        try restoreMSRs(state.msrs[...])
        var events = state.events
        try IOCTL.call(fd, "KVM_SET_VCPU_EVENTS", CKVM_SET_VCPU_EVENTS, &events)
        var mpState = kvm_mp_state(mp_state: state.multiprocessingState)
        try IOCTL.call(fd, "KVM_SET_MP_STATE", CKVM_SET_MP_STATE, &mpState)
    }

    /// Writes the saved MSRs in order, as few `KVM_SET_MSRS` calls as KVM allows (one, unless
    /// it refuses one: it stops there). KVM refuses some host-initiated writes of MSRs it
    /// lists (kvm_pvm: the paravirtual async-page-fault MSRs, whatever the value); such a
    /// refusal is harmless when the new vCPU already holds the saved value, and an error
    /// otherwise, so no state is ever dropped silently.
    private func restoreMSRs(_ saved: ArraySlice<MSRValue>) throws(KVMError) {
        var pending = saved
        while !pending.isEmpty {
            let written = try msrBatch("KVM_SET_MSRS", CKVM_SET_MSRS, pending).count
            guard written < pending.count else { return }
            let refused = pending[pending.startIndex + written]
            guard (try? msr(refused.index)) == refused.value else {
                throw .ioctl("KVM_SET_MSRS(\(hex(refused.index)) = \(hex(refused.value)))", .invalidArgument)
            }
            pending = pending.dropFirst(written + 1)
        }
    }

    /// `KVM_GET_MSRS` or `KVM_SET_MSRS` over `entries` in one call, in order; returns the
    /// entries KVM handled, with the values it read (KVM stops at the first MSR it refuses,
    /// so they are a prefix of `entries`).
    private func msrBatch(_ name: String, _ request: UInt, _ entries: ArraySlice<MSRValue>) throws(KVMError) -> [MSRValue] {
        // struct kvm_msrs { __u32 nmsrs, pad; struct kvm_msr_entry { __u32 index, reserved;
        // __u64 data; } entries[]; } as 64-bit words, little-endian: nmsrs in the low half
        // of word 0, then each entry's index (low half) and data.
        var buffer = [UInt64](repeating: 0, count: 1 + 2 * entries.count)
        buffer[0] = UInt64(entries.count)
        for (offset, entry) in entries.enumerated() {
            buffer[1 + 2 * offset] = UInt64(entry.index)
            buffer[2 + 2 * offset] = entry.value
        }
        // SAFETY: the buffer is a struct kvm_msrs with as many entries as nmsrs says.
        let result = buffer.withUnsafeMutableBytes { ckvm_ioctl_pointer(fd.rawValue, request, $0.baseAddress) }
        guard result >= 0 else { throw .ioctl(name, Errno(rawValue: errno)) }
        return (0..<min(Int(result), entries.count)).map {
            MSRValue(index: entries[entries.startIndex + $0].index, value: buffer[2 + 2 * $0])
        }
    }

    /// KVM_GET_XSAVE or KVM_SET_XSAVE with `area`, a 4 KiB `struct kvm_xsave`.
    private func xsaveCall(_ name: String, _ request: UInt, _ area: inout [UInt32]) throws(KVMError) {
        precondition(area.count == 1024)
        // SAFETY: the array is the 4 KiB struct kvm_xsave that the request reads or writes.
        let result = area.withUnsafeMutableBytes { ckvm_ioctl_pointer(fd.rawValue, request, $0.baseAddress) }
        guard result >= 0 else { throw .ioctl(name, Errno(rawValue: errno)) }
    }

    /// IA32_TSC_DEADLINE (SDM Vol. 3A §11.5.4.1): KVM's only with its in-kernel APIC.
    /// `LocalAPIC.MSR.tscDeadline` names it for SwiftVMM's APIC, a layer this one cannot see.
    static let tscDeadline: UInt32 = 0x6E0

    /// The TSC first, TSC_DEADLINE last, the rest in index order.
    static func restoreOrder(_ msrs: [MSRValue]) -> [MSRValue] {
        func rank(_ index: UInt32) -> Int {
            switch index {
            case MSRPolicy.Index.timeStampCounter: 0
            case tscDeadline: 2
            default: 1
            }
        }
        return msrs.sorted { (rank($0.index), $0.index) < (rank($1.index), $1.index) }
    }

    /// `KVM_GET_MSRS` over `indices`, in as few calls as KVM allows: it stops a batch at
    /// the first MSR it cannot read on this host, which is left out, and the next batch
    /// starts after it.
    private func readMSRs(_ indices: [UInt32]) throws(KVMError) -> [MSRValue] {
        var values: [MSRValue] = []
        var pending = indices.map { MSRValue(index: $0, value: 0) }[...]
        while !pending.isEmpty {
            let read = try msrBatch("KVM_GET_MSRS", CKVM_GET_MSRS, pending)
            values += read
            pending = pending.dropFirst(read.count + 1)
        }
        return values
    }
}
