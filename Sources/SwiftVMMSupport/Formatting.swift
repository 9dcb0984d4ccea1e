/// `0x` and the value in lower-case hex: how SwiftVMM prints ports, addresses and MSRs.
package func hex<T: BinaryInteger>(_ value: T) -> String { "0x" + String(value, radix: 16) }

/// `0x` and 16 hex digits: a 64-bit register in a fault report.
package func hex16(_ value: UInt64) -> String { "0x" + String(value, radix: 16).leftPadded(to: 16) }

extension String {
    /// Padded on the left to `width` (numbers in columns).
    package func leftPadded(to width: Int, with pad: Character = "0") -> String {
        count >= width ? self : String(repeating: pad, count: width - count) + self
    }

    /// Padded on the right with spaces to `width` (names in columns).
    package func padding(_ width: Int) -> String {
        count >= width ? self : self + String(repeating: " ", count: width - count)
    }
}
