/// The VGA colour text page at 0xB8000 as plain text: 25 rows of 80 cells, each cell a
/// character byte then an attribute byte (IBM VGA Technical Reference, "Alphanumeric
/// Modes"). Attributes are ignored; the NUL and 0x20–0x7E characters are themselves (NUL
/// a blank, as in memory no one wrote yet), any other code page 437 glyph reads `?`.
/// Trailing blanks are trimmed from every row.
package struct VGATextPage: Equatable {
    static let columns = 80, rows = 25
    package static let byteCount = columns * rows * 2

    let lines: [String]

    /// `bytes` is the page as it is in memory (`byteCount` bytes; missing ones are blank).
    package init(bytes: [UInt8]) {
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

    package static let blank = VGATextPage(bytes: [])

    /// The rows worth printing after the page changed from `old` to `self`: the non-blank
    /// rows that are not `old`'s rows still on the page in the same order (the longest
    /// common subsequence of the two pages' non-blank rows). A scrolled console prints
    /// just its new bottom rows, a row rewritten in place its new text, a repeated line
    /// each time it is written. A look that lands in the middle of a scroll (the guest
    /// was copying the rows up, or was preempted while it did) sees one row twice, and
    /// prints that row again.
    package func changedLines(since old: VGATextPage) -> [String] {
        guard self != old else { return [] }
        let before = old.lines.filter { !$0.isEmpty }, after = lines.filter { !$0.isEmpty }
        // common[i][j]: length of the longest common subsequence of before[i...], after[j...].
        var common = Array(repeating: Array(repeating: 0, count: after.count + 1), count: before.count + 1)
        for i in before.indices.reversed() {
            for j in after.indices.reversed() {
                common[i][j] = before[i] == after[j] ? common[i + 1][j + 1] + 1 : max(common[i + 1][j], common[i][j + 1])
            }
        }
        var printed: [String] = []
        var i = 0, j = 0
        while j < after.count {
            if i < before.count, before[i] == after[j] {
                i += 1
                j += 1
            } else if i < before.count, common[i + 1][j] >= common[i][j + 1] {
                i += 1
            } else {
                printed.append(after[j])
                j += 1
            }
        }
        return printed
    }
}
