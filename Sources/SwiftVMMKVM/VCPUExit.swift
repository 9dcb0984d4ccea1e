import CKVM

/// Why `KVM_RUN` returned, decoded once from `kvm_run` (`api.rst` §5, "The kvm_run structure").
///
/// Payloads that the handler must answer (port and MMIO reads, RDMSR) carry a window into
/// the run area, as the KVM ABI does: write the answer there and re-enter.
public enum VCPUExit {
    /// `in`/`out` (and `ins`/`outs`: `count` > 1 items of `size` bytes each in `data`).
    case io(PortIO)
    /// A guest access to guest-physical memory that no slot backs.
    case mmio(MMIOAccess)
    /// `rdmsr` of an MSR KVM sends to userspace; answer with `reply(_:)` or `fault()`.
    case msrRead(MSRAccess)
    /// `wrmsr` of an MSR KVM sends to userspace; accept with `reply(0)` or `fault()`.
    case msrWrite(MSRAccess)
    /// `hlt` with no in-kernel local APIC.
    case halt
    /// The guest can take an interrupt now (`request_interrupt_window` was set).
    case interruptWindow
    /// The guest lowered CR8 (`KVM_EXIT_SET_TPR`, userspace APIC only): an interrupt the old
    /// task priority held back may be deliverable now. The new CR8 is in `kvm_run.cr8`.
    case taskPriorityLowered
    /// `KVM_RUN` was interrupted by a signal (the kick) before or while running.
    case interrupted
    /// Triple fault (hardware KVM).
    case shutdown
    /// KVM could not handle something; on this host also a triple fault.
    case internalError(suberror: UInt32, data: [UInt64], instruction: [UInt8])
    /// VM entry failed (invalid guest state).
    case failEntry(reason: UInt64, cpu: UInt32)
    /// PSCI/ACPI-style system event from an in-kernel device.
    case systemEvent(type: UInt32)
    /// A debug event the debugger asked for (`KVM_SET_GUEST_DEBUG`): #DB (hardware
    /// breakpoint, watchpoint, single step; `dr6` says which) or #BP (int3).
    case debug(exception: UInt32, pc: UInt64, dr6: UInt64)
    /// Any other `KVM_EXIT_*`.
    case unknown(reason: UInt32)

    init(_ run: UnsafeMutablePointer<kvm_run>) {
        let reason = run.pointee.exit_reason
        switch Int32(reason) {
        case KVM_EXIT_IO:
            let io = ckvm_run_io(run)!.pointee
            // SAFETY: data_offset points inside the run area mapping (api.rst KVM_EXIT_IO).
            let data = UnsafeMutableRawPointer(run) + Int(io.data_offset)
            self = .io(PortIO(port: io.port, size: Int(io.size), count: Int(io.count),
                              isWrite: io.direction == UInt8(KVM_EXIT_IO_OUT),
                              data: UnsafeMutableRawBufferPointer(start: data, count: Int(io.size) * Int(io.count))))
        case KVM_EXIT_MMIO:
            let mmio = ckvm_run_mmio(run)!
            let data = MemoryLayout<ckvm_run_mmio_t>.offset(of: \.data)!
            let length = min(Int(mmio.pointee.len), MemoryLayout.size(ofValue: mmio.pointee.data))
            // SAFETY: the payload's `data` array lies inside the run area mapping (api.rst
            // KVM_EXIT_MMIO), which outlives the exit; `length` is at most the array's size.
            let bytes = UnsafeMutableRawBufferPointer(start: UnsafeMutableRawPointer(mmio) + data, count: length)
            self = .mmio(MMIOAccess(address: mmio.pointee.phys_addr, isWrite: mmio.pointee.is_write != 0, data: bytes))
        case KVM_EXIT_X86_RDMSR:
            self = .msrRead(MSRAccess(ckvm_run_msr(run)!))
        case KVM_EXIT_X86_WRMSR:
            self = .msrWrite(MSRAccess(ckvm_run_msr(run)!))
        case KVM_EXIT_HLT:
            self = .halt
        case KVM_EXIT_IRQ_WINDOW_OPEN:
            self = .interruptWindow
        case KVM_EXIT_SET_TPR:
            self = .taskPriorityLowered
        case KVM_EXIT_INTR:
            self = .interrupted
        case KVM_EXIT_SHUTDOWN:
            self = .shutdown
        case KVM_EXIT_INTERNAL_ERROR:
            let error = ckvm_run_internal(run)!.pointee
            let count = min(Int(error.ndata), 16)
            let data = withUnsafeBytes(of: error.data) { Array($0.bindMemory(to: UInt64.self).prefix(count)) }
            var instruction: [UInt8] = []
            if error.suberror == UInt32(KVM_INTERNAL_ERROR_EMULATION) {
                let failure = ckvm_run_emulation_failure(run)!.pointee
                if failure.flags & UInt64(KVM_INTERNAL_ERROR_EMULATION_FLAG_INSTRUCTION_BYTES) != 0 {
                    instruction = withUnsafeBytes(of: failure.insn_bytes) { Array($0.prefix(Int(min(failure.insn_size, 15)))) }
                }
            }
            self = .internalError(suberror: error.suberror, data: data, instruction: instruction)
        case KVM_EXIT_FAIL_ENTRY:
            let fail = ckvm_run_fail_entry(run)!.pointee
            self = .failEntry(reason: fail.hardware_entry_failure_reason, cpu: fail.cpu)
        case KVM_EXIT_SYSTEM_EVENT:
            self = .systemEvent(type: ckvm_run_system_event(run)!.pointee.type)
        case KVM_EXIT_DEBUG:
            let debug = ckvm_run_debug(run)!.pointee.arch
            self = .debug(exception: debug.exception, pc: debug.pc, dr6: debug.dr6)
        default:
            self = .unknown(reason: reason)
        }
    }
}

extension VCPUExit {
    /// What kind of exit this is: the one classification that tracing (`ExitRecord`), the
    /// exit counters (`RunStatistics`) and fault reports name exits by. A new exit is a case
    /// of `VCPUExit` and one here; the compiler then finds every switch that must learn it.
    /// The raw values number the kinds 0 ..< `allCases.count`, so counters index by them.
    public enum Kind: UInt8, Sendable, CaseIterable, Comparable {
        case ioIn, ioOut, mmioRead, mmioWrite, rdmsr, wrmsr, hlt, interruptWindow, interrupted
        case shutdown, internalError, failEntry, systemEvent, debug, unknown, setTPR

        /// The name trace lines, summaries and fault reports print.
        public var name: String {
            switch self {
            case .ioIn: "io-in"
            case .ioOut: "io-out"
            case .mmioRead: "mmio-read"
            case .mmioWrite: "mmio-write"
            case .rdmsr: "rdmsr"
            case .wrmsr: "wrmsr"
            case .hlt: "hlt"
            case .interruptWindow: "irq-window"
            case .interrupted: "kick"
            case .shutdown: "shutdown"
            case .internalError: "internal-error"
            case .failEntry: "fail-entry"
            case .systemEvent: "system-event"
            case .debug: "debug"
            case .unknown: "unknown"
            case .setTPR: "set-tpr"
            }
        }

        public static func < (a: Kind, b: Kind) -> Bool { a.rawValue < b.rawValue }
    }

    /// Inlinable: the run loop and the exit records, in other layers, ask at every exit.
    @inlinable public var kind: Kind {
        switch self {
        case .io(let io): io.isWrite ? .ioOut : .ioIn
        case .mmio(let access): access.isWrite ? .mmioWrite : .mmioRead
        case .msrRead: .rdmsr
        case .msrWrite: .wrmsr
        case .halt: .hlt
        case .interruptWindow: .interruptWindow
        case .taskPriorityLowered: .setTPR
        case .interrupted: .interrupted
        case .shutdown: .shutdown
        case .internalError: .internalError
        case .failEntry: .failEntry
        case .systemEvent: .systemEvent
        case .debug: .debug
        case .unknown: .unknown
        }
    }
}

/// A port I/O exit. `data` holds `count` items of `size` bytes: the values written, or
/// room for the values read.
public struct PortIO {
    public var port: UInt16
    public var size: Int
    public var count: Int
    public var isWrite: Bool
    /// In the vCPU's run area: valid until its next `KVM_RUN`, on its thread only.
    package var data: UnsafeMutableRawBufferPointer

    init(port: UInt16, size: Int, count: Int, isWrite: Bool, data: UnsafeMutableRawBufferPointer) {
        self.port = port; self.size = size; self.count = count; self.isWrite = isWrite; self.data = data
    }
}

/// An MMIO exit: `data` holds the bytes written, or room for the bytes read (1–8).
public struct MMIOAccess {
    public var address: UInt64
    public var isWrite: Bool
    /// In the vCPU's run area: valid until its next `KVM_RUN`, on its thread only.
    package var data: UnsafeMutableRawBufferPointer

    init(address: UInt64, isWrite: Bool, data: UnsafeMutableRawBufferPointer) {
        self.address = address; self.isWrite = isWrite; self.data = data
    }
}

/// An RDMSR/WRMSR exit (`KVM_CAP_X86_USER_SPACE_MSR`).
public struct MSRAccess {
    private let msr: UnsafeMutablePointer<ckvm_run_msr_t>

    init(_ msr: UnsafeMutablePointer<ckvm_run_msr_t>) { self.msr = msr }

    public var index: UInt32 { msr.pointee.index }
    /// The value the guest writes (WRMSR).
    public var value: UInt64 { msr.pointee.data }
    /// `KVM_MSR_EXIT_REASON_{INVAL,UNKNOWN,FILTER}`.
    public var reason: UInt32 { msr.pointee.reason }
    /// The MSR filter let this access through to KVM, which refused it: INVAL (a
    /// non-canonical base, a reserved bit, a machine-check bank it does not have) or UNKNOWN
    /// (a read of a write-only MSR, a feature this CPU lacks), where hardware raises #GP.
    /// Only FILTER exits are the VMM's to answer. Without KVM's APIC, x2APIC accesses come
    /// this way too (the filter cannot cover them).
    public var rejectedByKVM: Bool { reason != UInt32(KVM_MSR_EXIT_REASON_FILTER) }

    /// Completes the access: the value RDMSR returns (ignored for WRMSR).
    package func reply(_ value: UInt64) {
        msr.pointee.data = value
        msr.pointee.error = 0
    }

    /// Completes the access with #GP(0), as hardware does for an unimplemented MSR.
    package func fault() { msr.pointee.error = 1 }
}
