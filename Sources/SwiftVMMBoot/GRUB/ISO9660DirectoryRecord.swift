/// One directory record of an ISO 9660 file system (ECMA-119 4th edition §9.1): where a
/// file's or directory's data is, its flags, its identifier and its System Use area (where
/// Rock Ridge keeps the POSIX name).
struct ISO9660DirectoryRecord {
    /// First logical block of the data.
    let extent: UInt32
    /// Bytes of data.
    let dataLength: UInt32
    /// §9.1.6 file flags.
    let flags: UInt8
    /// §9.1.10 file identifier, as recorded (d-characters or, under Joliet, UCS-2).
    let identifier: ArraySlice<UInt8>
    /// §9.1.13 System Use: SUSP entries (Rock Ridge), if any.
    let systemUse: ArraySlice<UInt8>

    /// The smallest record: the fixed 33 bytes and a one-byte identifier.
    static let minimumLength = 34

    var isDirectory: Bool { flags & 0x02 != 0 }
    /// Bit 7: the file continues in the next record (a file of more than one extent).
    var continuesInNextRecord: Bool { flags & 0x80 != 0 }
    /// §6.8.2.2: the identifiers 0x00 and 0x01 are the directory itself and its parent.
    var isSelfOrParent: Bool { identifier.count == 1 && identifier.first! <= 1 }

    /// Parses the record at `offset` of `bytes`, which must hold all `length` bytes of it.
    init(_ bytes: [UInt8], at offset: Int) throws(ImageError) {
        let length = Int(bytes[offset])
        guard length >= Self.minimumLength, offset + length <= bytes.count else {
            throw ImageError("corrupt directory record at byte \(offset) of its directory: length \(length)")
        }
        func u32(_ at: Int) -> UInt32 {   // the little-endian half of a both-endian field (§7.3.3)
            (0..<4).reduce(UInt32(0)) { $0 | UInt32(bytes[offset + at + $1]) << (8 * $1) }
        }
        extent = u32(2)
        dataLength = u32(10)
        flags = bytes[offset + 25]
        let nameLength = Int(bytes[offset + 32])
        guard nameLength > 0, 33 + nameLength <= length else {
            throw ImageError("corrupt directory record at byte \(offset) of its directory: identifier length \(nameLength) in a \(length)-byte record")
        }
        identifier = bytes[(offset + 33)..<(offset + 33 + nameLength)]
        // §9.1.12: a padding byte follows an identifier of even length.
        let systemUseStart = min(offset + 33 + nameLength + (nameLength % 2 == 0 ? 1 : 0), offset + length)
        systemUse = bytes[systemUseStart..<(offset + length)]
    }
}
