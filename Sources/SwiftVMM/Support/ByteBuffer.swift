/// Builds a little-endian binary structure (multiboot information, ACPI tables) field by field.
struct ByteBuffer {
    private(set) var bytes: [UInt8] = []

    var count: Int { bytes.count }

    mutating func append<T: FixedWidthInteger>(_ value: T) {
        // SAFETY: the bytes are of a local copy of `value`, read only inside the closure.
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }

    mutating func append(_ data: some Sequence<UInt8>) { bytes.append(contentsOf: data) }

    /// ASCII text, padded with spaces or cut to `width` (ACPI signatures and IDs).
    mutating func append(ascii text: String, width: Int) {
        let utf8 = Array(text.utf8.prefix(width))
        bytes.append(contentsOf: utf8 + [UInt8](repeating: 0x20, count: width - utf8.count))
    }

    /// A NUL-terminated string.
    mutating func append(cString text: String) {
        bytes.append(contentsOf: text.utf8)
        bytes.append(0)
    }

    mutating func align(to alignment: Int) {
        while bytes.count % alignment != 0 { bytes.append(0) }
    }

    /// Overwrites a field already appended.
    mutating func set<T: FixedWidthInteger>(_ value: T, at offset: Int) {
        // SAFETY: the bytes are of a local copy of `value`, read only inside the closure; the
        // writes go through the array's bounds-checked subscript.
        withUnsafeBytes(of: value.littleEndian) { for (i, byte) in $0.enumerated() { bytes[offset + i] = byte } }
    }

    subscript(offset: Int) -> UInt8 {
        get { bytes[offset] }
        set { bytes[offset] = newValue }
    }
}
