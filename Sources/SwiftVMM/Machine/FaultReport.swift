import SwiftVMMSupport
import SwiftVMMDebug

/// What a kernel developer needs when the guest dies: why, every vCPU's registers (with
/// RIP as `symbol+offset` when the kernel has a symbol table), the instruction bytes at the
/// faulting RIP, and each vCPU's last exits.
public struct FaultReport: Equatable, Sendable, CustomStringConvertible {
    /// The vCPU that faulted.
    public var vcpu: Int
    /// The exit that ended the run, e.g. "KVM internal error, suberror 1 (emulation failure)".
    public var reason: String
    /// Up to 15 bytes at the faulting vCPU's CS:RIP (from KVM, or read through its page tables).
    public var instruction: [UInt8]
    public var cpus: [CPUState]

    /// Registers of one vCPU when the machine stopped.
    public struct CPUState: Equatable, Sendable {
        public var id: Int
        public var rip: UInt64, rsp: UInt64, rflags: UInt64
        public var cr0: UInt64, cr2: UInt64, cr3: UInt64, cr4: UInt64, efer: UInt64
        public var csSelector: UInt16, csBase: UInt64
        /// "running", "halted", "waiting for start-up", or why the registers are missing.
        public var status: String
        /// RAX, RBX, RCX, RDX, RSI, RDI, RBP, R8–R15 (RSP is above); empty when unavailable.
        public var general: [UInt64] = []
        /// RIP as `symbol+0xoffset` from the kernel's symbol table, when it has one.
        public var symbol: String? = nil
        /// This vCPU's last exits, oldest first (`ExitRing`).
        public var recentExits: [ExitRecord] = []
    }

    public var summary: String { "vCPU \(vcpu): \(reason)" }

    static let generalNames = ["RAX", "RBX", "RCX", "RDX", "RSI", "RDI", "RBP", "R8", "R9", "R10", "R11",
                               "R12", "R13", "R14", "R15"]

    public var description: String {
        var text = "guest fault on vCPU \(vcpu): \(reason)\n"
        let bytes = instruction.map { String($0, radix: 16).leftPadded(to: 2) }.joined(separator: " ")
        text += "  instruction bytes at RIP: \(instruction.isEmpty ? "(unavailable)" : bytes)\n"
        for cpu in cpus {
            let symbol = cpu.symbol.map { " <\($0)>" } ?? ""
            text += "  vCPU \(cpu.id) (\(cpu.status)): RIP=\(hex16(cpu.rip))\(symbol) RSP=\(hex16(cpu.rsp)) RFLAGS=\(hex16(cpu.rflags)) CS=\(hex(cpu.csSelector))\n"
            text += "      CR0=\(hex16(cpu.cr0)) CR2=\(hex16(cpu.cr2)) CR3=\(hex16(cpu.cr3)) CR4=\(hex16(cpu.cr4)) EFER=\(hex16(cpu.efer))\n"
            for row in stride(from: 0, to: cpu.general.count, by: 4) {
                text += "      " + (row..<min(row + 4, cpu.general.count))
                    .map { "\(Self.generalNames[$0].padding(3))=\(hex16(cpu.general[$0]))" }.joined(separator: " ") + "\n"
            }
            if !cpu.recentExits.isEmpty {
                let last = cpu.recentExits.last!.time
                text += "      last \(cpu.recentExits.count) exits (µs before the last):\n"
                for exit in cpu.recentExits {
                    text += "        -\(String((last - exit.time) / 1000).leftPadded(to: 8, with: " ")) \(exit.description)\n"
                }
            }
        }
        return text
    }
}
