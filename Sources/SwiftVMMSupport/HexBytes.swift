/// Bytes that encode as one hexadecimal string (two lowercase digits a byte): how snapshot
/// files keep KVM's register structures, which are plain C structs, compactly and readably.
package struct HexBytes: Codable, Sendable, Equatable {
    package var bytes: [UInt8]

    package init(_ bytes: [UInt8]) { self.bytes = bytes }

    /// 32-bit words, little-endian (the byte order of x86 and of KVM's structs).
    package init(words: [UInt32]) {
        bytes = words.flatMap { word in (0..<4).map { UInt8(truncatingIfNeeded: word >> ($0 * 8)) } }
    }

    /// The bytes as little-endian 32-bit words; nil unless they are a whole number of words.
    package var words: [UInt32]? {
        guard bytes.count % 4 == 0 else { return nil }
        return stride(from: 0, to: bytes.count, by: 4).map { start in
            (0..<4).reduce(0) { word, byte in word | UInt32(bytes[start + byte]) << (byte * 8) }
        }
    }

    package init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let bytes = Self.decode(text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "not a hexadecimal byte string"))
        }
        self.bytes = bytes
    }

    package func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        let digits = Array("0123456789abcdef".utf8)
        var text: [UInt8] = []
        text.reserveCapacity(bytes.count * 2)
        for byte in bytes {
            text.append(digits[Int(byte >> 4)])
            text.append(digits[Int(byte & 0xF)])
        }
        try container.encode(String(decoding: text, as: UTF8.self))
    }

    /// Two digits a byte. Reads the string's UTF-8 in place: a restore decodes some 70 KB of
    /// these, and walking a `String.UTF8View` a character at a time showed in its profile.
    private static func decode(_ text: String) -> [UInt8]? {
        var text = text
        // SAFETY: `withUTF8` lends the string's contiguous UTF-8 for the closure only, and
        // every index read is below `digits.count` (twice the output's count).
        return text.withUTF8 { digits -> [UInt8]? in
            guard digits.count % 2 == 0 else { return nil }
            var bytes = [UInt8](repeating: 0, count: digits.count / 2)
            for index in bytes.indices {
                guard let high = value(of: digits[2 * index]), let low = value(of: digits[2 * index + 1]) else { return nil }
                bytes[index] = high << 4 | low
            }
            return bytes
        }
    }

    /// A lowercase hexadecimal digit's value.
    private static func value(of digit: UInt8) -> UInt8? {
        switch digit {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): digit - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): digit - UInt8(ascii: "a") + 10
        default: nil
        }
    }
}
