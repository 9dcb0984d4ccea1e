import SwiftVMMSupport

/// The 8042 keyboard controller at ports 0x60 (data) and 0x64 (status/command), as much
/// of it as kernels touch without a keyboard: the status register reads 0 (output buffer
/// empty, input buffer empty), so probes and "wait until ready" loops never spin; command
/// 0xFE (pulse the reset line) resets the machine; the A20 commands are accepted.
/// (IBM PC/AT Technical Reference, "Keyboard Controller"; A20 is always on in KVM.)
/// Port 0x61 sits between its two ports, so each is placed on its own.
public final class I8042: Sendable {
    enum Command {
        static let writeOutputPort: UInt8 = 0xD1   // next data byte: output port (A20 in bit 1)
        static let pulseReset: UInt8 = 0xFE        // pulse output line 0: CPU reset
    }

    /// A command that takes a data byte is waiting for it.
    private let pendingCommand = AnnotatedMutex<UInt8?>(nil)
    private let reset: @Sendable () -> Void

    public init(reset: @escaping @Sendable () -> Void) { self.reset = reset }

    /// Port 0x60.
    public var data: any PortDevice { DataPort(controller: self) }
    /// Port 0x64.
    public var command: any PortDevice { CommandPort(controller: self) }

    private final class DataPort: PortDevice {
        let controller: I8042
        init(controller: I8042) { self.controller = controller }
        func read(offset: UInt16, size: Int) -> UInt32 { 0 }
        func write(offset: UInt16, size: Int, value: UInt32) {
            controller.pendingCommand.withLock { $0 = nil }   // the output-port byte: A20 stays on
        }
    }

    private final class CommandPort: PortDevice {
        let controller: I8042
        init(controller: I8042) { self.controller = controller }
        func read(offset: UInt16, size: Int) -> UInt32 { 0 }  // status: nothing to read, ready for input
        func write(offset: UInt16, size: Int, value: UInt32) {
            let byte = UInt8(truncatingIfNeeded: value)
            if byte == Command.pulseReset { controller.reset() }
            controller.pendingCommand.withLock { $0 = byte == Command.writeOutputPort ? byte : nil }
        }
    }
}
