import Synchronization
import SwiftVMMSupport

/// An I/O APIC with 24 inputs, after the Intel 82093AA datasheet (order 290566) §3
/// "Register Description", as a version 0x20 part (the PCI-era I/O APIC of Intel ICH/PCH
/// chipsets, which adds the EOI register at offset 0x40; Intel ICH9 datasheet §13.5).
///
/// Inputs arrive through `setPin(_:level:)`; each interrupt leaves as a `Message` to
/// `deliver`, which the machine routes to local APICs. `level` means asserted: the
/// polarity bit (13) is stored and read back but not applied, because the VMM's lines
/// carry assertion rather than electrical level (as QEMU's and KVM's I/O APICs do).
/// Delivery is synchronous, so the delivery status bit (12) always reads idle.
public final class IOAPIC: MMIODevice {
    // MARK: Registers

    /// Memory-mapped registers (§3.0, Table 1), offsets from the base (0xFEC00000).
    enum Register {
        static let select: UInt64 = 0x00          // IOREGSEL, bits 7:0 select the register
        static let window: UInt64 = 0x10          // IOWIN, 32-bit data of the selected register
        static let endOfInterrupt: UInt64 = 0x40  // EOI (version 0x20): bits 7:0 vector
    }

    /// Indirect registers behind IOWIN (§3.2, Table 2).
    enum Index {
        static let id: UInt8 = 0x00               // IOAPICID, ID in bits 27:24
        static let version: UInt8 = 0x01          // IOAPICVER
        static let arbitration: UInt8 = 0x02      // IOAPICARB, arbitration ID in bits 27:24
        static let redirectionTable: UInt8 = 0x10 // IOREDTBL0 low; entry n at 0x10 + 2n, 0x11 + 2n
    }

    /// The MMIO window to place: one 4 KiB page (the registers use the first 0x44 bytes).
    public static let size: UInt64 = 0x1000
    /// 24 redirection entries (§3.2.4: IOREDTBL[23:0]).
    public static let pinCount = 24
    /// IOAPICVER (§3.2.2): maximum redirection entry (23) in bits 23:16, version 0x20.
    static let versionValue: UInt32 = UInt32(pinCount - 1) << 16 | 0x20
    /// IOAPICID / IOAPICARB: the 4-bit ID in bits 27:24 (§3.2.1, §3.2.3).
    static let idShift: UInt32 = 24, idMask: UInt32 = 0x0F00_0000

    /// IOREDTBL bits (§3.2.4, Table 3).
    struct Redirection: OptionSet {
        let rawValue: UInt64
        static let destinationLogical = Redirection(rawValue: 1 << 11)  // DESTMOD
        static let deliveryPending = Redirection(rawValue: 1 << 12)     // DELIVS (RO)
        static let activeLow = Redirection(rawValue: 1 << 13)           // INTPOL
        static let remoteIRR = Redirection(rawValue: 1 << 14)           // Remote IRR (RO)
        static let levelTriggered = Redirection(rawValue: 1 << 15)      // TRIGGER MODE
        static let masked = Redirection(rawValue: 1 << 16)              // INTERRUPT MASK

        static let vectorMask: UInt64 = 0xFF                            // INTVEC, bits 7:0
        static let deliveryModeShift: UInt64 = 8                        // DELMOD, bits 10:8
        static let destinationShift: UInt64 = 56                        // DESTINATION, bits 63:56
        /// Bits software may write: everything but DELIVS and Remote IRR, and the
        /// reserved bits 55:17.
        static let writable: UInt64 = 0xFF00_0000_0001_AFFF
    }

    /// DELMOD (§3.2.4): how the local APICs take the interrupt.
    public enum DeliveryMode: UInt8, Sendable {
        case fixed = 0b000, lowestPriority = 0b001, smi = 0b010, nmi = 0b100, initialize = 0b101, extINT = 0b111
    }

    /// One interrupt for the APIC bus.
    public struct Message: Equatable, Sendable {
        public var vector: UInt8
        /// Reserved mode values (0b011, 0b110) arrive as nil; the machine should drop them.
        public var deliveryMode: DeliveryMode?
        /// DESTMOD: the destination is a logical (set of) APIC(s), else an APIC ID.
        public var logical: Bool
        public var destination: UInt8
        public var levelTriggered: Bool

        public init(vector: UInt8, deliveryMode: DeliveryMode?, logical: Bool, destination: UInt8, levelTriggered: Bool) {
            self.vector = vector; self.deliveryMode = deliveryMode; self.logical = logical
            self.destination = destination; self.levelTriggered = levelTriggered
        }
    }

    package struct State: Sendable, Equatable, Codable {
        var select: UInt8 = 0                     // IOREGSEL
        var id: UInt32                            // IOAPICID bits 27:24
        /// IOREDTBL: masked at reset, everything else 0 (§3.2.4).
        var redirection = [UInt64](repeating: Redirection.masked.rawValue, count: IOAPIC.pinCount)
        /// Input levels (bit n = pin n asserted).
        var pins: UInt32 = 0
        /// Edge pins whose last message has not been EOIed yet (bit n = pin n).
        var edgesInFlight: UInt32 = 0

        func entry(_ pin: Int) -> Redirection { Redirection(rawValue: redirection[pin]) }

        func message(_ pin: Int) -> Message {
            let value = redirection[pin]
            return Message(vector: UInt8(value & Redirection.vectorMask),
                           deliveryMode: DeliveryMode(rawValue: UInt8(value >> Redirection.deliveryModeShift & 7)),
                           logical: entry(pin).contains(.destinationLogical),
                           destination: UInt8(value >> Redirection.destinationShift),
                           levelTriggered: entry(pin).contains(.levelTriggered))
        }

        /// A level-triggered pin that is asserted, unmasked and not awaiting EOI sends
        /// its message and sets Remote IRR (§3.2.4, bit 14).
        mutating func serviceLevel(_ pin: Int, into messages: inout [Message]) {
            let entry = entry(pin)
            guard entry.contains(.levelTriggered), pins & 1 << pin != 0,
                  !entry.contains(.masked), !entry.contains(.remoteIRR) else { return }
            redirection[pin] |= Redirection.remoteIRR.rawValue
            messages.append(message(pin))
        }

        func read(_ index: UInt8) -> UInt32 {
            switch index {
            case Index.id, Index.arbitration: return id
            case Index.version: return IOAPIC.versionValue
            case Index.redirectionTable..<Index.redirectionTable + UInt8(2 * IOAPIC.pinCount):
                let value = redirection[Int(index - Index.redirectionTable) / 2]
                return UInt32(truncatingIfNeeded: index & 1 == 0 ? value : value >> 32)
            default: return 0
            }
        }

        mutating func write(_ index: UInt8, _ value: UInt32, into messages: inout [Message]) {
            switch index {
            case Index.id:
                id = value & IOAPIC.idMask        // the arbitration ID follows (§3.2.3)
            case Index.redirectionTable..<Index.redirectionTable + UInt8(2 * IOAPIC.pinCount):
                let pin = Int(index - Index.redirectionTable) / 2
                let old = redirection[pin]
                let merged = index & 1 == 0 ? old & 0xFFFF_FFFF_0000_0000 | UInt64(value)
                                            : old & 0xFFFF_FFFF | UInt64(value) << 32
                let readOnly = Redirection.deliveryPending.rawValue | Redirection.remoteIRR.rawValue
                var new = merged & Redirection.writable | old & readOnly
                // Edge mode has no Remote IRR; software switches an entry to edge and back
                // to clear a stuck one (Linux's I/O APIC EOI workaround; KVM does the same).
                if new & Redirection.levelTriggered.rawValue == 0 { new &= ~Redirection.remoteIRR.rawValue }
                redirection[pin] = new
                edgesInFlight &= ~(1 << pin)   // a reprogrammed entry waits for no old EOI
                serviceLevel(pin, into: &messages)   // unmasking an asserted level pin delivers
            default:
                break   // version and arbitration are read-only
            }
        }

        /// An EOI for `vector`: clears Remote IRR of level entries with that vector and
        /// re-sends those whose pin is still asserted.
        mutating func endOfInterrupt(_ vector: UInt8, into messages: inout [Message]) {
            for pin in 0..<IOAPIC.pinCount where UInt8(redirection[pin] & Redirection.vectorMask) == vector {
                guard entry(pin).contains(.remoteIRR) else { continue }
                redirection[pin] &= ~Redirection.remoteIRR.rawValue
                serviceLevel(pin, into: &messages)
            }
        }
    }

    let state: AnnotatedMutex<State>
    private let deliver: @Sendable (Message) -> Void
    /// Told each edge pin whose message an EOI acknowledged, after the lock is released.
    private let acknowledged: @Sendable (Int) -> Void
    /// `State.edgesInFlight != 0`, so the EOI of a vector no edge pin waits for (every
    /// local APIC timer tick, every IPI) costs one load, not the lock.
    let anyEdgeInFlight = Atomic<Bool>(false)

    /// `id` is the I/O APIC ID the MADT reports (0–15); `deliver` receives each interrupt;
    /// `acknowledged` hears of each edge pin whose interrupt was EOIed.
    public init(id: UInt8 = 0, deliver: @escaping @Sendable (Message) -> Void,
                acknowledged: @escaping @Sendable (Int) -> Void = { _ in }) {
        state = AnnotatedMutex(State(id: UInt32(id & 0xF) << Self.idShift))
        self.deliver = deliver
        self.acknowledged = acknowledged
    }

    // MARK: Inputs and EOI

    /// Sets input `pin` (0–23). Edge-triggered: a rising edge on an unmasked pin sends one
    /// message (masked edges are lost, §3.2.4 bit 16). Level-triggered: an asserted
    /// unmasked pin sends while Remote IRR is clear, and sets it.
    public func setPin(_ pin: Int, level: Bool) {
        guard (0..<Self.pinCount).contains(pin) else { return }
        access { state, messages in
            let bit = UInt32(1) << pin
            let rising = level && state.pins & bit == 0
            state.pins = level ? state.pins | bit : state.pins & ~bit
            let entry = state.entry(pin)
            if entry.contains(.levelTriggered) {
                state.serviceLevel(pin, into: &messages)
            } else if rising, !entry.contains(.masked) {
                messages.append(state.message(pin))
                state.edgesInFlight |= bit
                anyEdgeInFlight.store(true, ordering: .relaxed)
            }
        }
    }

    /// Whether an edge on `pin` now would be a new interrupt: masked, pending (a level
    /// entry awaiting EOI, or an edge whose vector has not been EOIed), or ready.
    public func acceptance(pin: Int) -> EdgeAcceptance {
        guard (0..<Self.pinCount).contains(pin) else { return .masked }
        return state.withLock { state in
            let entry = state.entry(pin)
            if entry.contains(.masked) { return .masked }
            let waiting = entry.contains(.levelTriggered) ? entry.contains(.remoteIRR) : state.edgesInFlight & 1 << pin != 0
            return waiting ? .pending : .ready
        }
    }

    /// A local APIC's EOI of an edge-triggered `vector` (which real local APICs do not
    /// broadcast): edge pins waiting on that vector are acknowledged. Only the timers that
    /// deliver owed ticks care (`acceptance(pin:)`), as KVM's PIT hears of an edge EOI
    /// through its I/O APIC's ack notifier.
    public func edgeEndOfInterrupt(vector: UInt8) {
        guard anyEdgeInFlight.load(ordering: .relaxed) else { return }
        let done = state.withLock { state -> UInt32 in
            var done: UInt32 = 0
            for pin in 0..<Self.pinCount where state.edgesInFlight & 1 << pin != 0
                && UInt8(state.redirection[pin] & Redirection.vectorMask) == vector {
                done |= 1 << pin
            }
            state.edgesInFlight &= ~done
            anyEdgeInFlight.store(state.edgesInFlight != 0, ordering: .relaxed)
            return done
        }
        for pin in 0..<Self.pinCount where done & 1 << pin != 0 { acknowledged(pin) }
    }

    /// An EOI broadcast from a local APIC for a level-triggered `vector` (Intel SDM Vol. 3A
    /// §11.8.5): clears Remote IRR of the matching entries and re-delivers any whose pin is
    /// still asserted.
    public func endOfInterrupt(vector: UInt8) {
        access { state, messages in state.endOfInterrupt(vector, into: &messages) }
    }

    // MARK: MMIO

    public func read(offset: UInt64, size: Int) -> UInt64 {
        let register = state.withLock { state -> UInt32 in
            switch offset & ~3 {
            case Register.select: UInt32(state.select)
            case Register.window: state.read(state.select)
            default: 0
            }
        }
        return UInt64(register >> (8 * UInt32(offset & 3)))
    }

    public func write(offset: UInt64, size: Int, value: UInt64) {
        let value = UInt32(truncatingIfNeeded: value)
        access { state, messages in
            switch offset {
            case Register.select: state.select = UInt8(truncatingIfNeeded: value)
            case Register.window: state.write(state.select, value, into: &messages)
            case Register.endOfInterrupt: state.endOfInterrupt(UInt8(truncatingIfNeeded: value), into: &messages)
            default: break
            }
        }
    }

    /// Runs `body` under the lock, collecting messages, and sends them after unlocking.
    private func access(_ body: (inout State, inout [Message]) -> Void) {
        let messages = state.withLock { state -> [Message] in
            var messages: [Message] = []
            body(&state, &messages)
            return messages
        }
        for message in messages { deliver(message) }
    }
}
