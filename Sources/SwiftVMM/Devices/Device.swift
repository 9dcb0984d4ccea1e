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
