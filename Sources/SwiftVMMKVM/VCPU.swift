import CKVM
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif
import SwiftVMMSupport
import SwiftVMMPlatform

/// A KVM virtual CPU file descriptor and its shared `kvm_run` area (`api.rst` §4, "vcpu ioctls").
///
/// A vCPU is driven by one thread: `run()` and the `kvm_run` fields are only touched by
/// the thread that owns it. Register ioctls from another thread are allowed while the
/// vCPU is not inside `KVM_RUN` (KVM serialises them on the vCPU mutex).
public final class VCPU: @unchecked Sendable {
    public let id: Int
    let fd: FileDescriptor
    /// The shared run area: exit reason and payload, injection flags.
    let run: UnsafeMutablePointer<kvm_run>
    private let runAreaSize: Int

    init(fd: FileDescriptor, id: Int, runAreaSize: Int) throws(KVMError) {
        self.fd = fd
        self.id = id
        self.runAreaSize = runAreaSize
        let area = mmap(nil, runAreaSize, PROT_READ | PROT_WRITE, MAP_SHARED, fd.rawValue, 0)
        guard let area, area != MAP_FAILED else {
            try? fd.close()
            throw .mapRunArea(Errno(rawValue: errno))
        }
        // SAFETY: KVM maps a struct kvm_run at offset 0 of the vCPU fd (api.rst KVM_RUN).
        run = area.assumingMemoryBound(to: kvm_run.self)
    }

    deinit {
        munmap(run, runAreaSize)
        try? fd.close()
    }

    // MARK: Running

    /// Enters the guest until the next exit. `KVM_RUN` interrupted by a signal is the
    /// expected `.interrupted` exit, not an error.
    public func runOnce() throws(KVMError) -> VCPUExit {
        if ckvm_ioctl_none(fd.rawValue, CKVM_RUN) < 0 {
            let error = Errno(rawValue: errno)
            if error == .interrupted || error == .resourceTemporarilyUnavailable { return .interrupted }
            throw .ioctl("KVM_RUN", error)
        }
        return VCPUExit(run)
    }

    /// `kvm_run.if_flag`: the guest's RFLAGS.IF at the last exit.
    package var interruptsEnabled: Bool { run.pointee.if_flag != 0 }
    /// `kvm_run.ready_for_interrupt_injection`: KVM_INTERRUPT would be accepted now.
    package var readyForInterruptInjection: Bool { run.pointee.ready_for_interrupt_injection != 0 }
    /// `kvm_run.cr8`: without KVM's APIC, KVM keeps CR8 (the guest's task priority, SDM
    /// Vol. 3A §11.8.6.1) and reports it at every exit; the value here at entry is loaded.
    package var cr8: UInt64 {
        get { run.pointee.cr8 }
        set { run.pointee.cr8 = newValue }
    }
    /// `kvm_run.request_interrupt_window`: exit as soon as the guest can take an interrupt.
    package var requestInterruptWindow: Bool {
        get { run.pointee.request_interrupt_window != 0 }
        set { run.pointee.request_interrupt_window = newValue ? 1 : 0 }
    }

    /// `KVM_INTERRUPT`: queue an external interrupt vector (userspace irqchip only).
    package func inject(vector: UInt8) throws(KVMError) {
        var interrupt = kvm_interrupt(irq: UInt32(vector))
        try IOCTL.call(fd, "KVM_INTERRUPT", CKVM_INTERRUPT, &interrupt)
    }

    /// `KVM_NMI`: queue a non-maskable interrupt.
    package func injectNMI() throws(KVMError) {
        try IOCTL.call(fd, "KVM_NMI", CKVM_NMI)
    }

    /// `KVM_GET_VCPU_EVENTS`: KVM still holds an NMI (being injected, or pending behind
    /// one the guest is handling).
    package func holdsNMI() throws(KVMError) -> Bool {
        var events = kvm_vcpu_events()
        try IOCTL.call(fd, "KVM_GET_VCPU_EVENTS", CKVM_GET_VCPU_EVENTS, &events)
        return events.nmi.pending != 0 || events.nmi.injected != 0
    }

    /// `KVM_SET_SIGNAL_MASK`: the signal mask in force only while inside `KVM_RUN`.
    /// `signals` lists the signals that stay *blocked* there.
    package func setSignalMask(blocking blocked: sigset_t) throws(KVMError) {
        // struct kvm_signal_mask { __u32 len; __u8 sigset[]; } with the kernel's 8-byte sigset.
        var buffer = [UInt8](repeating: 0, count: 4 + 8)
        buffer[0] = 8
        withUnsafeBytes(of: blocked) { for i in 0..<8 { buffer[4 + i] = $0[i] } }
        let result = buffer.withUnsafeMutableBytes { ckvm_ioctl_pointer(fd.rawValue, CKVM_SET_SIGNAL_MASK, $0.baseAddress) }
        if result < 0 { throw .ioctl("KVM_SET_SIGNAL_MASK", Errno(rawValue: errno)) }
    }

    // MARK: State

    public func registers() throws(KVMError) -> kvm_regs {
        var regs = kvm_regs()
        try IOCTL.call(fd, "KVM_GET_REGS", CKVM_GET_REGS, &regs)
        return regs
    }

    public func setRegisters(_ registers: kvm_regs) throws(KVMError) {
        var regs = registers
        try IOCTL.call(fd, "KVM_SET_REGS", CKVM_SET_REGS, &regs)
    }

    public func specialRegisters() throws(KVMError) -> kvm_sregs {
        var sregs = kvm_sregs()
        try IOCTL.call(fd, "KVM_GET_SREGS", CKVM_GET_SREGS, &sregs)
        return sregs
    }

    public func setSpecialRegisters(_ specialRegisters: kvm_sregs) throws(KVMError) {
        var sregs = specialRegisters
        try IOCTL.call(fd, "KVM_SET_SREGS", CKVM_SET_SREGS, &sregs)
    }

    package func setCPUID(_ entries: [CPUIDEntry]) throws(KVMError) {
        let buffer = CPUIDBuffer(entries)
        try IOCTL.call(fd, "KVM_SET_CPUID2", CKVM_SET_CPUID2, pointer: buffer.pointer)
    }

    /// `KVM_GET_TSC_KHZ`: the guest TSC rate.
    public func tscKHz() throws(KVMError) -> UInt32 {
        UInt32(try IOCTL.call(fd, "KVM_GET_TSC_KHZ", CKVM_GET_TSC_KHZ))
    }

    /// `struct kvm_msrs` for one entry; the entry follows it in memory.
    private static var msrsHeader: kvm_msrs {
        var header = kvm_msrs()
        header.nmsrs = 1
        return header
    }

    /// `KVM_SET_MSRS` for one MSR (KVM's own MSRs, e.g. the TSC).
    package func setMSR(_ index: UInt32, _ value: UInt64) throws(KVMError) {
        var buffer = (Self.msrsHeader, kvm_msr_entry(index: index, reserved: 0, data: value))
        let written = try IOCTL.call(fd, "KVM_SET_MSRS", CKVM_SET_MSRS, &buffer)
        if written != 1 { throw .ioctl("KVM_SET_MSRS(\(hex(index)))", .invalidArgument) }
    }

    /// `KVM_GET_MSRS` for one MSR.
    package func msr(_ index: UInt32) throws(KVMError) -> UInt64 {
        var buffer = (Self.msrsHeader, kvm_msr_entry(index: index, reserved: 0, data: 0))
        let read = try IOCTL.call(fd, "KVM_GET_MSRS", CKVM_GET_MSRS, &buffer)
        if read != 1 { throw .ioctl("KVM_GET_MSRS(\(hex(index)))", .invalidArgument) }
        return buffer.1.data
    }

    /// `KVM_TRANSLATE`: a guest linear address through the guest's current page tables.
    public func translate(_ linearAddress: UInt64) throws(KVMError) -> UInt64? {
        var translation = kvm_translation()
        translation.linear_address = linearAddress
        try IOCTL.call(fd, "KVM_TRANSLATE", CKVM_TRANSLATE, &translation)
        return translation.valid != 0 ? translation.physical_address : nil
    }
}
