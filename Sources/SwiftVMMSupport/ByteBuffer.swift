/// Builds a little-endian binary structure (multiboot information, ACPI tables) field by field.
package struct ByteBuffer {
    package private(set) var bytes: [UInt8] = []

    package init() {}

    package var count: Int { bytes.count }

    package mutating func append<T: FixedWidthInteger>(_ value: T) {
        // SAFETY: the bytes are of a local copy of `value`, read only inside the closure.
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }

    package mutating func append(_ data: some Sequence<UInt8>) { bytes.append(contentsOf: data) }

    /// The common case, concrete: the generic one above runs unspecialized when another
    /// module calls it, and its first call has the Swift runtime scan every conformance record.
    package mutating func append(_ data: [UInt8]) { bytes.append(contentsOf: data) }

    /// ASCII text, padded with spaces or cut to `width` (ACPI signatures and IDs).
    package mutating func append(ascii text: String, width: Int) {
        let utf8 = Array(text.utf8.prefix(width))
        bytes.append(contentsOf: utf8 + [UInt8](repeating: 0x20, count: width - utf8.count))
    }

    /// A NUL-terminated string.
    package mutating func append(cString text: String) {
        bytes.append(contentsOf: text.utf8)
        bytes.append(0)
    }

    package mutating func align(to alignment: Int) {
        while bytes.count % alignment != 0 { bytes.append(0) }
    }

    /// Overwrites a field already appended.
    package mutating func set<T: FixedWidthInteger>(_ value: T, at offset: Int) {
        // SAFETY: the bytes are of a local copy of `value`, read only inside the closure; the
        // writes go through the array's bounds-checked subscript.
        withUnsafeBytes(of: value.littleEndian) { for (i, byte) in $0.enumerated() { bytes[offset + i] = byte } }
    }

    package subscript(offset: Int) -> UInt8 {
        get { bytes[offset] }
        set { bytes[offset] = newValue }
    }
}
