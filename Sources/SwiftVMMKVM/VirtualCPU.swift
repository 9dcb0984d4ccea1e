import CKVM
#if canImport(Glibc)
import Glibc
#endif

/// What the run loop (`VCPURunner`), the debugger and fault reports do with a vCPU once it
/// is set up: enter the guest, read the flags KVM reports at each exit, inject, and read
/// or write registers. `VCPU` is the KVM one; the tests drive the run loop with a fake
/// that replays scripted exits, so it is tested on machines without /dev/kvm, as
/// kvm-ioctls and Firecracker test theirs.
///
/// The property accessors are the `kvm_run` fields of the same name (`VCPU`); like them,
/// they belong to the vCPU's own thread.
package protocol VirtualCPU: AnyObject, Sendable {
    var id: Int { get }

    /// `KVM_RUN` until the next exit; `.interrupted` when a signal (a kick) stopped it.
    func runOnce() throws(KVMError) -> VCPUExit
    /// RFLAGS.IF at the last exit.
    var interruptsEnabled: Bool { get }
    /// An external interrupt would be accepted now.
    var readyForInterruptInjection: Bool { get }
    /// The task priority (CR8): reported at each exit, loaded at entry.
    var cr8: UInt64 { get set }
    /// Exit as soon as the guest can take an interrupt.
    var requestInterruptWindow: Bool { get set }
    func inject(vector: UInt8) throws(KVMError)
    func injectNMI() throws(KVMError)
    /// KVM still holds an NMI (injected or pending).
    func holdsNMI() throws(KVMError) -> Bool
    /// The signals unblocked inside `KVM_RUN` only: every signal but those `blocked` has.
    func setSignalMask(blocking blocked: sigset_t) throws(KVMError)

    func registers() throws(KVMError) -> kvm_regs
    func setRegisters(_ registers: kvm_regs) throws(KVMError)
    func specialRegisters() throws(KVMError) -> kvm_sregs
    func setSpecialRegisters(_ specialRegisters: kvm_sregs) throws(KVMError)
    func msr(_ index: UInt32) throws(KVMError) -> UInt64
    func setMSR(_ index: UInt32, _ value: UInt64) throws(KVMError)
    /// The guest-physical address of a linear one (nil: not mapped).
    func translate(_ linearAddress: UInt64) throws(KVMError) -> UInt64?

    func setGuestDebug(_ settings: GuestDebugSettings) throws(KVMError)
    var tscOffset: UInt64 { get throws(KVMError) }
    func setTSCOffset(_ value: UInt64) throws(KVMError)
    /// Finishes an access whose result KVM applies at the next entry, without running
    /// the guest.
    func completePendingOperation() throws(KVMError)
}

extension VCPU: VirtualCPU {}

/// KVM's register structures (`api.rst` KVM_GET_REGS, KVM_GET_SREGS), by name, for code
/// outside the KVM layer that builds them.
public typealias KVMRegisters = kvm_regs
public typealias KVMSpecialRegisters = kvm_sregs
public typealias KVMSegment = kvm_segment
