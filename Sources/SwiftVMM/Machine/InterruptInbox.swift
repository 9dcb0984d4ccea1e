import Synchronization

/// What other threads have sent a vCPU since it last looked (DESIGN-NOTES, "Raising an
/// interrupt from another thread"): fixed vectors as two 256-bit sets (edge- and
/// level-triggered) and the special messages as flags, all atomics, so a sender never
/// waits for the vCPU. The vCPU thread takes everything before each `KVM_RUN` and moves
/// it into its local APIC.
final class InterruptInbox: Sendable {
    struct Events: OptionSet, Sendable {
        let rawValue: UInt32
        /// One or more NMIs (`take` says how many).
        static let nmi = Events(rawValue: 1 << 0)
        static let initialize = Events(rawValue: 1 << 1)
        static let startup = Events(rawValue: 1 << 2)
        /// The 8259's INTR output changed (it reaches the CPU through LINT0 as ExtINT).
        static let externalInterrupt = Events(rawValue: 1 << 4)
        /// The machine suspends to RAM (ACPI S3): the CPU loses power until `.resume`.
        static let suspend = Events(rawValue: 1 << 6)
        /// The machine woke from S3: the boot processor starts at the real-mode waking
        /// vector (`take` gives it).
        static let resume = Events(rawValue: 1 << 7)
        /// Fixed vectors wait in the sets. Set after the vector's bit, so `isEmpty` is one
        /// load: a taker that clears it before taking the sets misses no bit (a bit set
        /// later brings its own flag; at worst a flag outlives its bit and one take is empty).
        static let vectors = Events(rawValue: 1 << 5)
    }

    private let events = Atomic<UInt32>(0)
    /// NMIs posted since the last take: two that arrive together are two NMIs (the CPU
    /// handles one and latches the next; SDM Vol. 3A §7.7.1, "Handling Multiple NMIs"),
    /// not one flag.
    private let nmis = Atomic<UInt32>(0)
    private let startupVectorValue = Atomic<UInt8>(0)
    private let wakingVectorValue = Atomic<UInt32>(0)
    /// Words 0–3: edge-triggered vectors; 4–7: level-triggered vectors.
    private let words = InlineArray<8, Atomic<UInt64>> { _ in Atomic(0) }

    func post(vector: UInt8, levelTriggered: Bool = false) {
        words[Int(vector >> 6) + (levelTriggered ? 4 : 0)].bitwiseOr(1 << UInt64(vector & 63), ordering: .releasing)
        events.bitwiseOr(Events.vectors.rawValue, ordering: .releasing)
    }

    func post(_ event: Events, startupVector: UInt8 = 0, wakingVector: UInt32 = 0) {
        if event.contains(.startup) { startupVectorValue.store(startupVector, ordering: .releasing) }
        if event.contains(.resume) { wakingVectorValue.store(wakingVector, ordering: .releasing) }
        if event.contains(.nmi) { nmis.add(1, ordering: .relaxed) }
        events.bitwiseOr(event.rawValue, ordering: .releasing)
    }

    var isEmpty: Bool { events.load(ordering: .acquiring) == 0 }

    /// Everything posted so far, leaving the inbox empty; `nmis` counts the NMIs.
    func take() -> (events: Events, nmis: UInt32, startupVector: UInt8, wakingVector: UInt32,
                    vectors: [(vector: UInt8, levelTriggered: Bool)]) {
        let events = Events(rawValue: self.events.exchange(0, ordering: .acquiring))
        // The count is bumped before the flag is set: a flag taken here brings its count,
        // and a count taken before its flag is set is still counted (that flag, taken
        // later, brings none).
        let nmis = self.nmis.exchange(0, ordering: .relaxed)
        var vectors: [(UInt8, Bool)] = []
        for index in 0..<8 {
            var bits = words[index].exchange(0, ordering: .acquiring)
            while bits != 0 {
                vectors.append((UInt8((index % 4) * 64 + bits.trailingZeroBitCount), index >= 4))
                bits &= bits - 1
            }
        }
        return (events, nmis, startupVectorValue.load(ordering: .acquiring), wakingVectorValue.load(ordering: .acquiring), vectors)
    }
}

extension InterruptInbox {
    /// What waits in an inbox, as a value: a snapshot keeps what other threads sent a
    /// parked vCPU that it has not taken yet.
    struct Pending: Sendable, Equatable, Codable {
        /// `Events` other than `.vectors` and `.nmi` (those are the lists and the count).
        var events: UInt32
        var nmis: UInt32
        var startupVector: UInt8
        var wakingVector: UInt32
        var edgeVectors: [UInt8]
        var levelVectors: [UInt8]
    }

    /// Everything posted so far, leaving the inbox empty (its vCPU is parked).
    func takePending() -> Pending {
        let (events, nmis, startupVector, wakingVector, vectors) = take()
        return Pending(events: events.subtracting([.vectors, .nmi]).rawValue, nmis: nmis, startupVector: startupVector,
                       wakingVector: wakingVector, edgeVectors: vectors.filter { !$0.levelTriggered }.map(\.vector),
                       levelVectors: vectors.filter(\.levelTriggered).map(\.vector))
    }

    /// Posts `pending` again, as its senders did.
    func post(_ pending: Pending) {
        for vector in pending.edgeVectors { post(vector: vector) }
        for vector in pending.levelVectors { post(vector: vector, levelTriggered: true) }
        for _ in 0..<pending.nmis { post(.nmi) }
        let events = Events(rawValue: pending.events)
        if !events.isEmpty { post(events, startupVector: pending.startupVector, wakingVector: pending.wakingVector) }
    }
}
