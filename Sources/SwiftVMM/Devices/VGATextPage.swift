/// The VGA colour text page at 0xB8000 as plain text: 25 rows of 80 cells, each cell a
/// character byte then an attribute byte (IBM VGA Technical Reference, "Alphanumeric
/// Modes"). Attributes are ignored; the NUL and 0x20–0x7E characters are themselves (NUL
/// a blank, as in memory no one wrote yet), any other code page 437 glyph reads `?`.
/// Trailing blanks are trimmed from every row.
struct VGATextPage: Equatable {
    static let columns = 80, rows = 25
    static let byteCount = columns * rows * 2

    let lines: [String]

    /// `bytes` is the page as it is in memory (`byteCount` bytes; missing ones are blank).
    init(bytes: [UInt8]) {
        lines = (0..<Self.rows).map { row in
            var text = ""
            for column in 0..<Self.columns {
                let index = (row * Self.columns + column) * 2
                let byte = index < bytes.count ? bytes[index] : 0
                switch byte {
                case 0: text.append(" ")
                case 0x20...0x7E: text.append(Character(Unicode.Scalar(byte)))
                default: text.append("?")
                }
            }
            while text.last == " " { text.removeLast() }
            return text
        }
    }

    static let blank = VGATextPage(bytes: [])

    /// The rows worth printing after the page changed from `old` to `self`: the new rows
    /// at the bottom when the page scrolled up (the rest moved unchanged), else every row
    /// that changed. Rows that became blank are not printed.
    func changedLines(since old: VGATextPage) -> [String] {
        guard self != old else { return [] }
        let rows = Self.rows
        for shift in 1..<rows {
            let kept = lines[0..<rows - shift]
            if kept.contains(where: { !$0.isEmpty }), kept.elementsEqual(old.lines[shift..<rows]) {
                return lines[(rows - shift)...].filter { !$0.isEmpty }
            }
        }
        return zip(lines, old.lines).compactMap { new, old in new != old && !new.isEmpty ? new : nil }
    }
}
