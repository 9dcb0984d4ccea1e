/// The GDB Remote Serial Protocol's framing (GDB manual, Appendix E.1 "Overview"):
/// `$payload#cc`, where `cc` is the modulo-256 sum of the payload's bytes in two hex
/// digits; `}` escapes `#`, `$`, `}` and `*` (the next byte is XOR 0x20); `x*n` repeats
/// `x` `n - 29` more times (run-length encoding). Outside a packet, `+` and `-`
/// acknowledge and 0x03 is an interrupt request (E.8 "Interrupts").
///
/// A pure value type: bytes in, events out, so it is tested without a socket.
public struct GDBPacketDecoder: Sendable {
    public enum Event: Equatable, Sendable {
        /// A complete packet with a good checksum: its payload, unescaped and expanded.
        case packet([UInt8])
        case ack
        case nack
        /// Ctrl-C from gdb: stop the target.
        case interrupt
        /// A packet with a bad checksum or malformed escape/repeat: reply `-`.
        case corrupt(String)
    }

    private enum State { case idle, payload, checksumHigh, checksumLow(high: UInt8) }
    private var state = State.idle
    private var raw: [UInt8] = []

    /// Longest payload accepted (before expansion); beyond it the packet is dropped.
    public static let maximumPayload = 0x4000

    public init() {}

    /// Consumes one byte from the connection; returns an event when one is complete.
    public mutating func feed(_ byte: UInt8) -> Event? {
        switch state {
        case .idle:
            switch byte {
            case UInt8(ascii: "$"):
                raw.removeAll(keepingCapacity: true)
                state = .payload
            case UInt8(ascii: "+"): return .ack
            case UInt8(ascii: "-"): return .nack
            case 0x03: return .interrupt
            default: break   // noise between packets is ignored, as gdbserver does
            }
        case .payload:
            if byte == UInt8(ascii: "#") {
                state = .checksumHigh
            } else if byte == UInt8(ascii: "$") {
                raw.removeAll(keepingCapacity: true)   // a new packet restarts framing
            } else if raw.count >= Self.maximumPayload {
                state = .idle
                return .corrupt("packet longer than \(Self.maximumPayload) bytes")
            } else {
                raw.append(byte)
            }
        case .checksumHigh:
            guard let high = GDBHex.digit(byte) else {
                state = .idle
                return .corrupt("bad checksum digit")
            }
            state = .checksumLow(high: high)
        case .checksumLow(let high):
            state = .idle
            guard let low = GDBHex.digit(byte) else { return .corrupt("bad checksum digit") }
            let expected = high << 4 | low
            let actual = GDBPacket.checksum(raw)
            guard expected == actual else {
                return .corrupt("checksum \(GDBHex.byte(expected)) does not match \(GDBHex.byte(actual))")
            }
            guard let payload = GDBPacket.decodePayload(raw) else { return .corrupt("bad escape or repeat") }
            return .packet(payload)
        }
        return nil
    }
}

public enum GDBPacket {
    /// The modulo-256 sum of the bytes between `$` and `#`.
    public static func checksum<Bytes: Sequence<UInt8>>(_ bytes: Bytes) -> UInt8 {
        bytes.reduce(0, &+)
    }

    /// Frames a payload: escapes the four special bytes and appends the checksum.
    public static func encode(_ payload: [UInt8]) -> [UInt8] {
        var body: [UInt8] = []
        body.reserveCapacity(payload.count + 8)
        for byte in payload {
            if escaped.contains(byte) {
                body.append(UInt8(ascii: "}"))
                body.append(byte ^ 0x20)
            } else {
                body.append(byte)
            }
        }
        let sum = checksum(body)
        return [UInt8(ascii: "$")] + body + [UInt8(ascii: "#")] + Array(GDBHex.byte(sum).utf8)
    }

    public static func encode(_ text: String) -> [UInt8] { encode(Array(text.utf8)) }

    static let escaped: Set<UInt8> = [UInt8(ascii: "#"), UInt8(ascii: "$"), UInt8(ascii: "}"), UInt8(ascii: "*")]

    /// Undoes escapes and expands run-length encoding; nil when malformed: an escape at
    /// the end, or a repeat with nothing before it or a count byte outside E.1's range.
    public static func decodePayload(_ raw: [UInt8]) -> [UInt8]? {
        var out: [UInt8] = []
        out.reserveCapacity(raw.count)
        var index = 0
        while index < raw.count {
            let byte = raw[index]
            index += 1
            switch byte {
            case UInt8(ascii: "}"):
                guard index < raw.count else { return nil }
                out.append(raw[index] ^ 0x20)
                index += 1
            case UInt8(ascii: "*"):
                // "The printable characters '#' and '$' or with a numeric value greater
                // than 126 must not be used" as counts: the count is byte - 29, at least 3.
                guard let previous = out.last, index < raw.count else { return nil }
                let count = Int(raw[index]) - 29
                guard (3...97).contains(count) else { return nil }
                out.append(contentsOf: repeatElement(previous, count: count))
                index += 1
            default:
                out.append(byte)
            }
        }
        return out
    }
}

/// Hex as the protocol spells it: lower-case pairs, little-endian register values.
public enum GDBHex {
    static let digits = Array("0123456789abcdef".utf8)

    static func digit(_ character: UInt8) -> UInt8? {
        switch character {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): character - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): character - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): character - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    package static func byte(_ value: UInt8) -> String {
        String(decoding: [digits[Int(value >> 4)], digits[Int(value & 15)]], as: UTF8.self)
    }

    public static func encode<Bytes: Sequence<UInt8>>(_ bytes: Bytes) -> String {
        var text: [UInt8] = []
        for byte in bytes {
            text.append(digits[Int(byte >> 4)])
            text.append(digits[Int(byte & 15)])
        }
        return String(decoding: text, as: UTF8.self)
    }

    /// Pairs of hex digits to bytes; nil for an odd length or a non-hex character.
    public static func decode<Text: StringProtocol>(_ text: Text) -> [UInt8]? {
        let characters = Array(text.utf8)
        guard characters.count % 2 == 0 else { return nil }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(characters.count / 2)
        for pair in stride(from: 0, to: characters.count, by: 2) {
            guard let high = digit(characters[pair]), let low = digit(characters[pair + 1]) else { return nil }
            bytes.append(high << 4 | low)
        }
        return bytes
    }

    /// A big-endian hex number as in addresses and lengths ("1000", "ffffffff81000000").
    public static func number<Text: StringProtocol>(_ text: Text) -> UInt64? {
        guard !text.isEmpty, text.utf8.count <= 16 else { return nil }
        return UInt64(text, radix: 16)
    }

    /// `value`'s low `size` bytes, little-endian, as hex (a register in `g`/`p`).
    static func littleEndian(_ value: UInt64, size: Int) -> String {
        encode((0..<size).map { UInt8(truncatingIfNeeded: value >> (8 * $0)) })
    }
}
