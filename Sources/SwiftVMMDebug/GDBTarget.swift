/// What a gdb session needs from the machine. `DebugController` provides it for a running
/// `Machine`; protocol tests provide a fake. vCPUs are numbered from 0 here; the session
/// turns them into gdb thread ids (vCPU + 1, since gdb reserves 0 and -1).
package protocol GDBTarget: AnyObject {
    var cpuCount: Int { get }
    /// Values in `GDBRegisters.all` order; nil entries are unavailable.
    func registers(vcpu: Int) -> [UInt64?]?
    /// Writes the non-nil entries; false when KVM refused.
    func setRegisters(vcpu: Int, _ values: [UInt64?]) -> Bool
    /// Reads at a linear address through `vcpu`'s page tables; may return fewer bytes than
    /// asked where the mapping or RAM ends, nil when not even the first byte is readable.
    func readMemory(vcpu: Int, at address: UInt64, count: Int) -> [UInt8]?
    func writeMemory(vcpu: Int, at address: UInt64, _ bytes: [UInt8]) -> Bool
    func insert(_ breakpoint: Breakpoint) -> BreakpointResult
    func remove(_ breakpoint: Breakpoint) -> BreakpointResult
    /// One line for `info threads`: what the vCPU was doing when it stopped.
    func describe(vcpu: Int) -> String
    /// Lets the vCPUs run: `actions[i]` for vCPU i; nil keeps it stopped.
    func resume(_ actions: [ResumeAction?])
    /// Answer to `monitor TEXT` (`qRcmd`).
    func monitor(_ command: String) -> String
}

/// `Z`/`z` types (GDB manual E.2 "Z type,addr,kind").
public struct Breakpoint: Hashable, Sendable {
    public enum Kind: Int, Sendable {
        case software = 0, hardware = 1, write = 2, read = 3, access = 4
        package var isWatchpoint: Bool { rawValue >= 2 }
    }
    public var kind: Kind
    public var address: UInt64
    /// Bytes watched (watchpoints) or the breakpoint's kind field (1 on x86).
    public var length: Int
}

package enum BreakpointResult: Equatable {
    case done
    /// This kind is not available (an empty reply tells gdb the packet is unsupported).
    case unsupported
    /// A specific failure, e.g. no free debug register, or the address is not mapped.
    case failed
}

package enum ResumeAction: Equatable, Sendable {
    case `continue`
    case step
}

/// Why the machine stopped, for the `T` stop reply (E.3 "Stop Reply Packets").
public struct StopEvent: Equatable, Sendable {
    public enum Reason: Equatable, Sendable {
        /// Stopped before the first instruction (`--gdb-wait`) or when gdb attached.
        case attached
        /// Ctrl-C from gdb.
        case interrupted
        case breakpoint
        case step
        case watchpoint(Breakpoint.Kind, address: UInt64)
    }
    public var vcpu: Int
    public var reason: Reason

    package init(vcpu: Int, reason: Reason) {
        self.vcpu = vcpu
        self.reason = reason
    }

    /// POSIX signal numbers as gdb expects them: SIGINT for Ctrl-C, SIGTRAP for the rest.
    var signal: UInt8 { reason == .interrupted ? 2 : 5 }
}
