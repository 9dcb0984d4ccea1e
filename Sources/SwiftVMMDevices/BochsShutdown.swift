import SwiftVMMSupport

/// Bochs's shutdown port 0x8900 (Bochs iodev/unmapped.cc): writing the bytes of the string
/// "Shutdown" in order powers the machine off. Any other byte starts the match again.
/// Reads return 0.
public final class BochsShutdown: PortDevice {
    static let magic = Array("Shutdown".utf8)
    /// How many bytes of `magic` have been written in a row.
    private let matched = AnnotatedMutex(0)
    private let powerOff: @Sendable () -> Void

    public init(powerOff: @escaping @Sendable () -> Void) { self.powerOff = powerOff }

    public func read(offset: UInt16, size: Int) -> UInt32 { 0 }

    public func write(offset: UInt16, size: Int, value: UInt32) {
        let byte = UInt8(truncatingIfNeeded: value)
        let complete = matched.withLock { matched in
            matched = byte == Self.magic[matched] ? matched + 1 : (byte == Self.magic[0] ? 1 : 0)
            guard matched == Self.magic.count else { return false }
            matched = 0
            return true
        }
        if complete { powerOff() }
    }
}
