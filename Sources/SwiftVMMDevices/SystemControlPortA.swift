import SwiftVMMSupport

/// System control port A at 0x92 ("fast A20 and reset", IBM PS/2 Technical Reference;
/// Intel ICH datasheets "Port 92h"): bit 1 gates A20, bit 0 going from 0 to 1 resets the
/// machine ("fast reset", the ALT_RST# pulse). A20 is always on under KVM, so bit 1 reads
/// 1 whatever is written; the other bits read back as written.
public final class SystemControlPortA: PortDevice {
    enum Bit {
        static let fastReset: UInt8 = 1 << 0
        static let a20Gate: UInt8 = 1 << 1
    }
    let register = AnnotatedMutex<UInt8>(Bit.a20Gate)
    private let reset: @Sendable () -> Void

    public init(reset: @escaping @Sendable () -> Void) { self.reset = reset }

    public func read(offset: UInt16, size: Int) -> UInt32 { UInt32(register.withLock { $0 } | Bit.a20Gate) }

    public func write(offset: UInt16, size: Int, value: UInt32) {
        let new = UInt8(truncatingIfNeeded: value)
        let rising = register.withLock { register in
            defer { register = new }
            return register & Bit.fastReset == 0 && new & Bit.fastReset != 0
        }
        if rising { reset() }
    }
}
