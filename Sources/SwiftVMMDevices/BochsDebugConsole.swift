/// The Bochs/QEMU debug console at port 0xE9 (Bochs "port E9 hack", QEMU `isa-debugcon`):
/// each byte written goes to the serial output, unbuffered, so kernels that print there
/// show up beside COM1's output. A read returns 0xE9, which is how kernels detect it.
public final class BochsDebugConsole: PortDevice {
    static let presence: UInt32 = 0xE9
    private let sink: any SerialSink

    public init(sink: any SerialSink) { self.sink = sink }

    public func read(offset: UInt16, size: Int) -> UInt32 { Self.presence }

    public func write(offset: UInt16, size: Int, value: UInt32) { sink.write(UInt8(truncatingIfNeeded: value)) }
}
