import SwiftVMM

/// How a case's run must end, written as in a manifest's `outcome` key.
public enum ExpectedOutcome: Sendable, Equatable, CustomStringConvertible {
    /// "debug-exit N": the guest wrote N to the debug-exit port 0xF4.
    case debugExit(UInt32)
    /// "powered-off": ACPI S5 or the Bochs power-off port.
    case poweredOff
    /// "exit-status N": whatever ended the run, `swiftvmm boot` would exit with N.
    case exitStatus(Int32)
    /// "guest-fault": triple fault, KVM internal error or failed entry.
    case guestFault
    /// "deadlock": every vCPU halted with interrupts disabled.
    case deadlock
    /// "reset": the guest asked for a reset.
    case reset
    /// "timed-out": the guest is meant to run until the case's time limit.
    case timedOut

    static let forms = "debug-exit N, powered-off, exit-status N, guest-fault, deadlock, reset, timed-out"

    public init?(_ text: String) {
        let words = text.split(separator: " ", omittingEmptySubsequences: true)
        switch (words.first, words.count) {
        case ("debug-exit", 2): guard let value = parseInteger(words[1]).flatMap(UInt32.init(exactly:)) else { return nil }
            self = .debugExit(value)
        case ("exit-status", 2): guard let value = parseInteger(words[1]).flatMap(Int32.init(exactly:)) else { return nil }
            self = .exitStatus(value)
        case ("powered-off", 1): self = .poweredOff
        case ("guest-fault", 1): self = .guestFault
        case ("deadlock", 1): self = .deadlock
        case ("reset", 1): self = .reset
        case ("timed-out", 1): self = .timedOut
        default: return nil
        }
    }

    public func matches(_ outcome: Outcome) -> Bool {
        switch (self, outcome) {
        case (.debugExit(let expected), .debugExit(let value)): expected == value
        case (.exitStatus(let status), _): status == outcome.exitStatus
        case (.poweredOff, .poweredOff), (.guestFault, .guestFault), (.deadlock, .deadlock),
             (.reset, .reset), (.timedOut, .timedOut): true
        default: false
        }
    }

    public var description: String {
        switch self {
        case .debugExit(let value): "debug-exit \(value)"
        case .poweredOff: "powered-off"
        case .exitStatus(let status): "exit-status \(status)"
        case .guestFault: "guest-fault"
        case .deadlock: "deadlock"
        case .reset: "reset"
        case .timedOut: "timed-out"
        }
    }
}

/// Decimal or 0x hexadecimal.
private func parseInteger(_ text: Substring) -> Int64? {
    text.lowercased().hasPrefix("0x") ? Int64(text.dropFirst(2), radix: 16) : Int64(text)
}
