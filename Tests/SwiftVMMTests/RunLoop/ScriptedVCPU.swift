import CKVM
import Dispatch
#if canImport(Glibc)
import Glibc
#endif
@testable import SwiftVMM
@testable import SwiftVMMKVM

/// A vCPU that replays a script instead of entering a guest, for testing the run loop
/// without /dev/kvm. Each `runOnce` takes the next step; like KVM, it shows an exit's
/// payload in one run area (owned here) and applies the VMM's answer at the next entry,
/// which is when it is recorded (`entries`). Injections and register writes are recorded
/// too. Driven by the runner's thread alone, as a `VCPU` is, except `script`, set before
/// the run.
final class ScriptedVCPU: VirtualCPU, @unchecked Sendable {
    /// What the guest does next.
    enum Step {
        /// `KVM_RUN` returns this exit at once, reporting these flags.
        case exit(Exit, interruptsEnabled: Bool = true, readyForInjection: Bool = true)
        /// The guest runs (spins) until a kick or alarm signal interrupts `KVM_RUN`.
        case runUntilKicked
        /// Something happens on the vCPU thread, at entry, before the next step.
        case perform(@Sendable () -> Void)
    }

    enum Exit {
        case halt, interruptWindow, shutdown
        case portRead(UInt16, size: Int), portWrite(UInt16, UInt32, size: Int)
        case mmioRead(UInt64, size: Int), mmioWrite(UInt64, UInt64, size: Int)
        /// `reason` is the KVM_MSR_EXIT_REASON_* (FILTER: the VMM's to answer).
        case rdmsr(UInt32, reason: UInt32 = UInt32(KVM_MSR_EXIT_REASON_FILTER))
        case wrmsr(UInt32, UInt64, reason: UInt32 = UInt32(KVM_MSR_EXIT_REASON_FILTER))
    }

    /// What the VMM had done by an entry: the answer it left in the run area for the last
    /// exit (bytes of a port or MMIO read; an MSR's value and whether it raised #GP), and
    /// whether it asked for an interrupt window.
    struct Entry: Equatable {
        var bytes: [UInt8]? = nil
        var msr: (value: UInt64, fault: Bool)? = nil
        var interruptWindowRequested: Bool

        static func == (a: Entry, b: Entry) -> Bool {
            a.bytes == b.bytes && a.msr?.value == b.msr?.value && a.msr?.fault == b.msr?.fault
                && a.interruptWindowRequested == b.interruptWindowRequested
        }
    }

    let id: Int
    var script: [Step] = []
    private var next = 0
    private(set) var entries: [Entry] = []
    private(set) var injected: [UInt8] = []
    private(set) var nmis = 0
    /// Kicks that ended a `runUntilKicked`, and waits that ended without one (10 s).
    private(set) var kicks = 0, missedKicks = 0
    /// Signalled when the guest starts a `runUntilKicked` step.
    let spinning = DispatchSemaphore(value: 0)

    var interruptsEnabled = true
    var readyForInterruptInjection = true
    var cr8: UInt64 = 0
    var requestInterruptWindow = false
    private var lastExit: Exit?
    private let data = UnsafeMutableRawBufferPointer.allocate(byteCount: 8, alignment: 8)
    private let msrArea = UnsafeMutablePointer<ckvm_run_msr_t>.allocate(capacity: 1)
    private var regs = kvm_regs(), sregs = kvm_sregs(), msrs: [UInt32: UInt64] = [:]

    init(id: Int = 0) { self.id = id }

    deinit {
        data.deallocate()
        msrArea.deallocate()
    }

    func runOnce() throws(KVMError) -> VCPUExit {
        entries.append(Entry(bytes: answeredBytes, msr: answeredMSR, interruptWindowRequested: requestInterruptWindow))
        lastExit = nil
        while next < script.count {
            let step = script[next]
            next += 1
            switch step {
            case .perform(let action):
                action()
            case .runUntilKicked:
                return waitForKick()
            case .exit(let exit, let enabled, let ready):
                (interruptsEnabled, readyForInterruptInjection, lastExit) = (enabled, ready, exit)
                return present(exit)
            }
        }
        return waitForKick()   // the script is over: the guest spins
    }

    /// The answer to the last exit, as the guest would see it on entry.
    private var answeredBytes: [UInt8]? {
        switch lastExit {
        case .portRead(_, let size)?, .mmioRead(_, let size)?: Array(data.prefix(size))
        default: nil
        }
    }
    private var answeredMSR: (UInt64, Bool)? {
        switch lastExit {
        case .rdmsr?, .wrmsr?: (msrArea.pointee.data, msrArea.pointee.error != 0)
        default: nil
        }
    }

    private func present(_ exit: Exit) -> VCPUExit {
        data.initializeMemory(as: UInt8.self, repeating: 0xEE)   // what the VMM leaves unanswered shows
        switch exit {
        case .halt: return .halt
        case .interruptWindow: return .interruptWindow
        case .shutdown: return .shutdown
        case .portRead(let port, let size):
            return .io(PortIO(port: port, size: size, count: 1, isWrite: false, data: UnsafeMutableRawBufferPointer(rebasing: data[..<size])))
        case .portWrite(let port, let value, let size):
            data.storeLittleEndian(UInt64(value))
            return .io(PortIO(port: port, size: size, count: 1, isWrite: true, data: UnsafeMutableRawBufferPointer(rebasing: data[..<size])))
        case .mmioRead(let address, let size):
            return .mmio(MMIOAccess(address: address, isWrite: false, data: UnsafeMutableRawBufferPointer(rebasing: data[..<size])))
        case .mmioWrite(let address, let value, let size):
            data.storeLittleEndian(value)
            return .mmio(MMIOAccess(address: address, isWrite: true, data: UnsafeMutableRawBufferPointer(rebasing: data[..<size])))
        case .rdmsr(let index, let reason):
            msrArea.pointee = ckvm_run_msr_t()
            msrArea.pointee.index = index
            msrArea.pointee.reason = reason
            msrArea.pointee.data = 0xDEAD
            return .msrRead(MSRAccess(msrArea))
        case .wrmsr(let index, let value, let reason):
            msrArea.pointee = ckvm_run_msr_t()
            msrArea.pointee.index = index
            msrArea.pointee.reason = reason
            msrArea.pointee.data = value
            return .msrWrite(MSRAccess(msrArea))
        }
    }

    /// Waits, as a spinning guest inside `KVM_RUN` does, for the kick or alarm signal
    /// (blocked on this thread, so it stays pending until taken here).
    private func waitForKick() -> VCPUExit {
        var signals = sigset_t()
        sigemptyset(&signals)
        sigaddset(&signals, KickSignal.number)
        sigaddset(&signals, KickSignal.alarmNumber)
        spinning.signal()
        var timeout = timespec(tv_sec: 10, tv_nsec: 0)
        if sigtimedwait(&signals, nil, &timeout) > 0 { kicks += 1 } else { missedKicks += 1 }
        return .interrupted
    }

    func inject(vector: UInt8) throws(KVMError) { injected.append(vector) }
    func injectNMI() throws(KVMError) { nmis += 1 }
    func holdsNMI() throws(KVMError) -> Bool { false }
    func setSignalMask(blocking blocked: sigset_t) throws(KVMError) {}
    func registers() throws(KVMError) -> kvm_regs { regs }
    func setRegisters(_ registers: kvm_regs) throws(KVMError) { regs = registers }
    func specialRegisters() throws(KVMError) -> kvm_sregs { sregs }
    func setSpecialRegisters(_ specialRegisters: kvm_sregs) throws(KVMError) { sregs = specialRegisters }
    func msr(_ index: UInt32) throws(KVMError) -> UInt64 { msrs[index, default: 0] }
    func setMSR(_ index: UInt32, _ value: UInt64) throws(KVMError) { msrs[index] = value }
    func translate(_ linearAddress: UInt64) throws(KVMError) -> UInt64? { linearAddress }
    func setGuestDebug(_ settings: GuestDebugSettings) throws(KVMError) { throw .ioctl("KVM_SET_GUEST_DEBUG", .notSupported) }
    var tscOffset: UInt64 { get throws(KVMError) { throw .ioctl("KVM_GET_DEVICE_ATTR", .notSupported) } }
    func setTSCOffset(_ value: UInt64) throws(KVMError) { throw .ioctl("KVM_SET_DEVICE_ATTR", .notSupported) }
    func completePendingOperation() throws(KVMError) {}
}
