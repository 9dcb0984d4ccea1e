import SwiftVMMSupport
import SwiftVMMKVM

/// How a run ended. Each case has one process exit status (`exitStatus`), the table in
/// the README and in `swiftvmm --help`.
public enum Outcome: Equatable, Sendable, CustomStringConvertible {
    /// The guest powered the machine off.
    case poweredOff
    /// The guest wrote `value` to the debug-exit port.
    case debugExit(UInt32)
    /// Triple fault, KVM internal error or failed VM entry.
    case guestFault(FaultReport)
    /// Every vCPU halted with interrupts disabled (or never started); nothing can wake them.
    case deadlock
    /// The guest asked for a reset.
    case reset
    /// A complete line of serial output matched an `exitOn` pattern; `status` is the exit
    /// status asked for (`--exit-on-status`).
    case outputMatched(pattern: String, status: Int32)
    /// The time limit passed.
    case timedOut
    /// The VMM was asked to stop (a signal, or `Machine.stop()`); the value is the signal
    /// number, or 0 when stopped through the API.
    case stopped(signal: Int32)
    /// The task running `await machine.run()` was cancelled.
    case cancelled
    /// SwiftVMM or the host failed while the guest ran.
    case hostError(String)

    /// The process exit status: odd values belong to the guest (debug exit); even values
    /// are SwiftVMM's.
    public var exitStatus: Int32 {
        switch self {
        case .poweredOff: ExitStatus.poweredOff
        case .debugExit(let value): Int32((value << 1 | 1) & 0xFF)
        case .guestFault: ExitStatus.guestFault
        case .deadlock: ExitStatus.deadlock
        case .reset: ExitStatus.reset
        case .outputMatched(_, let status): status
        case .timedOut: ExitStatus.timedOut
        case .stopped(let signal): signal == 0 ? ExitStatus.stopped : 128 + signal
        case .cancelled: ExitStatus.stopped
        case .hostError: ExitStatus.hostError
        }
    }

    public var description: String {
        switch self {
        case .poweredOff: "guest powered off"
        case .debugExit(let value): "guest wrote \(hex(value)) to the debug-exit port"
        case .guestFault(let report): "guest fault: \(report.summary)"
        case .deadlock: "deadlock: every vCPU is halted with interrupts disabled"
        case .reset: "guest requested a reset"
        case .outputMatched(let pattern, _): "serial output matched \(pattern)"
        case .timedOut: "time limit reached"
        case .stopped(let signal): signal == 0 ? "stopped" : "stopped by signal \(signal)"
        case .cancelled: "cancelled"
        case .hostError(let message): "host error: \(message)"
        }
    }
}

/// The exit statuses SwiftVMM itself uses (odd statuses are the guest's debug-exit codes).
public enum ExitStatus {
    public static let poweredOff: Int32 = 0
    public static let usage: Int32 = 2
    public static let guestFault: Int32 = 4
    public static let deadlock: Int32 = 6
    public static let reset: Int32 = 8
    public static let hostError: Int32 = 10
    public static let timedOut: Int32 = 124
    /// `Machine.stop()` without a signal, as SIGTERM would.
    public static let stopped: Int32 = 143

    /// The table printed by `--help` and the README.
    public static let table = """
        EXIT STATUS
          0          guest powered off (ACPI S5 via port 0x604, 0xB004, or "Shutdown" to 0x8900)
          (v<<1)|1   guest wrote v to the debug-exit port 0xf4 (QEMU isa-debug-exit), mod 256
          2          bad command line or unloadable kernel
          4          guest fault: triple fault, KVM internal error, failed entry (report on stderr)
          6          deadlock: every vCPU halted with interrupts disabled (userspace irqchip only)
          8          guest asked for a reset (port 0xCF9, 8042 command 0xFE, port 0x92); --reboot boots again
          10         host or VMM error (no /dev/kvm, missing KVM capability, out of memory)
          N          a serial line matched --exit-on (N from --exit-on-status, default 0)
          124        --timeout expired
          130, 143   stopped by SIGINT, SIGTERM
        """
}
