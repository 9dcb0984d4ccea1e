/// Rock Ridge names (RRIP 1.12 over SUSP 1.12), which xorriso and `grub-mkrescue` write
/// beside the 8.3-style ISO 9660 identifiers: the System Use area of each directory record
/// holds SUSP entries, each `signature(2) length(1) version(1) data`, and may continue in a
/// Continuation Area elsewhere on the disc (`CE`).
enum RockRidge {
    /// SUSP §5.3: `SP` in the root's "." record says SUSP is in use and how many bytes to
    /// skip at the start of every other System Use area. Returns that count, or nil.
    static func skipLength(inRootSystemUse area: ArraySlice<UInt8>) -> Int? {
        let bytes = Array(area)
        guard bytes.count >= 7, bytes[0] == UInt8(ascii: "S"), bytes[1] == UInt8(ascii: "P"),
              bytes[2] >= 7, bytes[4] == 0xBE, bytes[5] == 0xEF else { return nil }
        return Int(bytes[6])
    }

    /// Bounds on the entries followed for one record, so a hostile image cannot loop
    /// (a CE pointing back at itself) or make us read without end.
    static let maximumContinuations = 16
    static let maximumContinuationLength = 2048
    /// Continuation areas read in one path lookup, across all the records it looks at.
    static let continuationBudget = 4096

    /// The record's Rock Ridge name (RRIP §4.1.4 `NM`, parts joined while CONTINUE is
    /// set), following `CE` continuations; nil if it has none.
    static func name(of record: ISO9660DirectoryRecord, skip: Int, in source: some ImageSource,
                     budget: inout Int) throws(ImageError) -> [UInt8]? {
        var area = Array(record.systemUse.dropFirst(skip))
        var name: [UInt8] = []
        var found = false
        var continuations = 0
        while true {
            var next: (block: UInt64, offset: UInt64, length: UInt64)?
            var position = 0
            entries: while position + 4 <= area.count {
                let length = Int(area[position + 2])
                guard length >= 4, position + length <= area.count else { break }
                let entry = area[position..<(position + length)]
                let signature = (area[position], area[position + 1])
                switch signature {
                case (UInt8(ascii: "N"), UInt8(ascii: "M")) where length >= 5:
                    // Flags: bit 0 CONTINUE, bit 1 CURRENT ("."), bit 2 PARENT ("..").
                    name += entry.dropFirst(5)
                    found = true
                case (UInt8(ascii: "C"), UInt8(ascii: "E")) where length >= 28:
                    // SUSP §5.1: block, offset and length, each both-endian (the LE half first).
                    func le(_ at: Int) -> UInt64 {
                        (0..<4).reduce(UInt64(0)) { $0 | UInt64(area[position + at + $1]) << (8 * $1) }
                    }
                    next = (le(4), le(12), le(20))
                case (UInt8(ascii: "S"), UInt8(ascii: "T")):
                    break entries                    // SUSP §5.4: the end of the entries
                default:
                    break
                }
                position += length
            }
            guard let continuation = next else { break }
            continuations += 1
            budget -= 1
            guard budget >= 0 else {
                throw ImageError("corrupt Rock Ridge entries: more than \(continuationBudget) continuation areas in one lookup")
            }
            guard continuations <= maximumContinuations else {
                throw ImageError("corrupt Rock Ridge entries: more than \(maximumContinuations) continuation areas for one name")
            }
            guard continuation.length <= UInt64(maximumContinuationLength) else {
                throw ImageError("corrupt Rock Ridge entries: a \(continuation.length)-byte continuation area")
            }
            area = try source.read(at: continuation.block * UInt64(ISO9660Volume.sectorSize) + continuation.offset,
                                   count: Int(continuation.length))
        }
        return found ? name : nil
    }
}
