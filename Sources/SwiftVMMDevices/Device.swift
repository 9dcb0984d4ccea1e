/// A device on the port I/O bus. It sees offsets from its first port, never absolute
/// port numbers, so the same model can sit at any base (COM1 and COM2, say).
/// `size` is 1, 2 or 4 bytes.
public protocol PortDevice: AnyObject, Sendable {
    func read(offset: UInt16, size: Int) -> UInt32
    func write(offset: UInt16, size: Int, value: UInt32)
}

/// A device on the MMIO bus; offsets from its base address, `size` 1, 2, 4 or 8 bytes.
public protocol MMIODevice: AnyObject, Sendable {
    func read(offset: UInt64, size: Int) -> UInt64
    func write(offset: UInt64, size: Int, value: UInt64)
}

/// An interrupt request line from a device to an interrupt controller. Edge devices
/// pulse it; level devices hold it while the condition lasts.
public protocol InterruptLine: Sendable {
    func set(_ level: Bool)
    /// What the controllers at the other end would make of an edge sent now. A timer that
    /// owes ticks (the host ran it late) sends the next one only when this is `.ready`, so
    /// it never merges an edge into one still waiting. Lines that do not know say `.ready`.
    var acceptance: EdgeAcceptance { get }
}

extension InterruptLine {
    public var acceptance: EdgeAcceptance { .ready }
}

/// Whether an interrupt controller would take a new edge on a line as a new request.
public enum EdgeAcceptance: Sendable, Equatable {
    /// The last edge has been taken (8259: INTA moved it from IRR to ISR; I/O APIC: the
    /// vector was EOIed), or none was sent: a new edge is a new interrupt.
    case ready
    /// The last edge still waits (8259 IRR bit set; an I/O APIC edge whose vector has not
    /// been EOIed): a new edge now would merge with it, as on hardware.
    case pending
    /// Masked: a new edge would not be delivered.
    case masked

    /// Two controllers on one line (an ISA IRQ reaches the 8259 and the I/O APIC): the
    /// line is ready when either took the last edge, as KVM's PIT counts an acknowledgement
    /// from either (its irq ack notifier); pending when an unmasked one still holds it.
    package func combined(with other: EdgeAcceptance) -> EdgeAcceptance {
        if self == .ready || other == .ready { return .ready }
        if self == .pending || other == .pending { return .pending }
        return .masked
    }
}

/// A line that goes nowhere (a device whose IRQ is not wired yet).
public struct DisconnectedLine: InterruptLine {
    public init() {}
    public func set(_ level: Bool) {}
}

/// An interrupt controller that supplies the vector itself in an INTA cycle: the 8259,
/// whose INTR output reaches the boot CPU through its local APIC's LINT0 in ExtINT mode.
public protocol ExternalInterruptController: AnyObject, Sendable {
    /// INTR is asserted: an unmasked request is pending.
    var hasInterrupt: Bool { get }
    /// The INTA cycle: the vector to deliver (IRR → ISR inside the controller).
    func acknowledge() -> UInt8
}
