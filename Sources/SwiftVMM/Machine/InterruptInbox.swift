import Synchronization

/// What other threads have sent a vCPU since it last looked (DESIGN-NOTES, "Raising an
/// interrupt from another thread"): fixed vectors as a 256-bit set and the special
/// messages as flags, all atomics, so a sender never waits for the vCPU. The vCPU thread
/// takes everything before each `KVM_RUN` and moves it into its local APIC.
final class InterruptInbox: Sendable {
    struct Events: OptionSet, Sendable {
        let rawValue: UInt32
        static let nmi = Events(rawValue: 1 << 0)
        static let initialize = Events(rawValue: 1 << 1)
        static let startup = Events(rawValue: 1 << 2)
        static let timer = Events(rawValue: 1 << 3)
    }

    private let events = Atomic<UInt32>(0)
    private let startupVectorValue = Atomic<UInt8>(0)
    private let vectors0 = Atomic<UInt64>(0), vectors1 = Atomic<UInt64>(0)
    private let vectors2 = Atomic<UInt64>(0), vectors3 = Atomic<UInt64>(0)

    /// Applies `operation` to word `index` of the vector set (atomics cannot be returned).
    private func withWord<T>(_ index: Int, _ operation: (borrowing Atomic<UInt64>) -> T) -> T {
        switch index {
        case 0: operation(vectors0)
        case 1: operation(vectors1)
        case 2: operation(vectors2)
        default: operation(vectors3)
        }
    }

    func post(vector: UInt8) {
        withWord(Int(vector >> 6)) { _ = $0.bitwiseOr(1 << UInt64(vector & 63), ordering: .releasing) }
    }

    func post(_ event: Events, startupVector: UInt8 = 0) {
        if event.contains(.startup) { startupVectorValue.store(startupVector, ordering: .releasing) }
        events.bitwiseOr(event.rawValue, ordering: .releasing)
    }

    var isEmpty: Bool {
        events.load(ordering: .acquiring) == 0 && (0..<4).allSatisfy { withWord($0) { $0.load(ordering: .acquiring) } == 0 }
    }

    /// Everything posted so far, leaving the inbox empty.
    func take() -> (events: Events, startupVector: UInt8, vectors: [UInt8]) {
        let events = Events(rawValue: self.events.exchange(0, ordering: .acquiring))
        var vectors: [UInt8] = []
        for index in 0..<4 {
            var bits = withWord(index) { $0.exchange(0, ordering: .acquiring) }
            while bits != 0 {
                vectors.append(UInt8(index * 64 + bits.trailingZeroBitCount))
                bits &= bits - 1
            }
        }
        return (events, startupVectorValue.load(ordering: .acquiring), vectors)
    }
}
