import SwiftVMMSupport
import SwiftVMMKVM

/// One VM exit, reduced to what a trace line or a fault report shows: what kind, which
/// port/address/MSR, the value moved (after the exit was handled, so reads show what the
/// guest got), and when. Plain values, so recording one allocates nothing.
public struct ExitRecord: Equatable, Sendable {
    public var kind: VCPUExit.Kind
    /// Port, guest-physical address, MSR index or the error's code.
    public var detail: UInt64
    /// Bytes per access (port and MMIO), 0 otherwise.
    public var size: UInt8
    public var value: UInt64
    /// Host CLOCK_MONOTONIC nanoseconds when the exit was recorded.
    public var time: UInt64

    package init(_ exit: VCPUExit, time: UInt64) {
        kind = exit.kind
        self.time = time
        size = 0
        value = 0
        detail = 0
        switch exit {
        case .io(let io):
            detail = UInt64(io.port)
            size = UInt8(io.size)
            value = io.data.loadLittleEndian(at: 0, size: Swift.min(io.size, io.data.count))
        case .mmio(let access):
            detail = access.address
            size = UInt8(access.data.count)
            value = access.data.loadLittleEndian()
        case .msrRead(let access), .msrWrite(let access):
            detail = UInt64(access.index)
            value = access.value
        case .internalError(let suberror, _, _):
            detail = UInt64(suberror)
        case .failEntry(let reason, _):
            detail = reason
        case .systemEvent(let type):
            detail = UInt64(type)
        case .debug(let exception, let pc, _):
            detail = UInt64(exception)
            value = pc
        case .unknown(let reason):
            detail = UInt64(reason)
        case .halt, .interruptWindow, .taskPriorityLowered, .interrupted, .shutdown:
            break
        }
    }

    public init(kind: VCPUExit.Kind, detail: UInt64 = 0, size: UInt8 = 0, value: UInt64 = 0, time: UInt64 = 0) {
        self.kind = kind; self.detail = detail; self.size = size; self.value = value; self.time = time
    }

    /// `kind detail=0x.. size=N value=0x..`: the part of a trace line after vCPU and time.
    public var description: String {
        var text = kind.name
        switch kind {
        case .ioIn, .ioOut: text += " port=\(hex(detail)) size=\(size) value=\(hex(value))"
        case .mmioRead, .mmioWrite: text += " addr=\(hex(detail)) size=\(size) value=\(hex(value))"
        case .rdmsr, .wrmsr: text += " msr=\(hex(detail)) value=\(hex(value))"
        case .internalError: text += " suberror=\(hex(detail))"
        case .failEntry: text += " reason=\(hex(detail))"
        case .systemEvent: text += " type=\(hex(detail))"
        case .debug: text += " exception=\(hex(detail)) pc=\(hex(value))"
        case .unknown: text += " exit=\(hex(detail))"
        case .hlt, .interruptWindow, .interrupted, .shutdown, .setTPR: break
        }
        return text
    }
}

/// The last `capacity` exits of one vCPU, for fault reports. Written only by the vCPU's
/// thread and read after it has been joined, so it needs no lock; recording is a store
/// and an increment. Kicks (`KVM_RUN` interrupted by SwiftVMM itself) are not kept, so
/// they cannot push the guest's own exits out.
package final class ExitRing: @unchecked Sendable {
    static let capacity = 16
    // Written by the vCPU's thread on every exit and read only after it has stopped, so the
    // dynamic exclusivity checks (a runtime call per access) are turned off.
    @exclusivity(unchecked) private var records: [ExitRecord]
    @exclusivity(unchecked) private var next = 0
    @exclusivity(unchecked) private var count = 0

    package init() { records = Array(repeating: ExitRecord(kind: .unknown), count: Self.capacity) }

    package func record(_ exit: VCPUExit) {
        if case .interrupted = exit { return }
        records[next] = ExitRecord(exit, time: monotonicNanoseconds())
        next = (next + 1) % Self.capacity
        count = min(count + 1, Self.capacity)
    }

    /// Oldest first.
    package var recent: [ExitRecord] {
        (0..<count).map { records[(next - count + $0 + Self.capacity) % Self.capacity] }
    }
}
