/// A read-only ISO 9660 file system (ECMA-119 4th edition), enough to find files by path
/// the way GRUB does on a `grub-mkrescue` disc: Rock Ridge names where the disc has them,
/// else Joliet names, else the plain identifiers (matched without case, ";1" and a final
/// "." dropped). Every offset and size read from the disc is checked against the image,
/// and every walk is bounded, so a corrupt or hostile image ends in an `ImageError`.
struct ISO9660Volume {
    static let sectorSize = 2048
    /// §6.2.1: the System Area is sectors 0-15; volume descriptors start at 16.
    static let firstDescriptorSector: UInt64 = 16
    /// Descriptors read before giving up on finding the terminator.
    static let maximumDescriptors = 64
    /// The largest directory read (GRUB's i386-pc module directory is about 30 KiB).
    static let maximumDirectoryLength: UInt32 = 1 << 20
    /// The deepest path followed.
    static let maximumDepth = 32

    enum Naming: Equatable {
        /// RRIP names; the number is SUSP's skip length from the root's `SP` entry.
        case rockRidge(skip: Int)
        /// UCS-2 big-endian names from the Joliet Supplementary Volume Descriptor.
        case joliet
        /// ISO 9660 identifiers.
        case plain
    }

    let source: any ImageSource
    let root: ISO9660DirectoryRecord
    let naming: Naming

    /// Whether `source` holds an ISO 9660 volume: "CD001" in the first descriptor (§8.1).
    static func holdsVolume(_ source: some ImageSource) -> Bool {
        guard let identifier = try? source.read(at: firstDescriptorSector * UInt64(sectorSize) + 1, count: 5) else { return false }
        return identifier == Array("CD001".utf8)
    }

    init(_ source: any ImageSource) throws(ImageError) {
        self.source = source
        var primary: ISO9660DirectoryRecord?
        var joliet: ISO9660DirectoryRecord?
        var terminated = false
        for index in 0..<UInt64(Self.maximumDescriptors) {
            let offset = (Self.firstDescriptorSector + index) * UInt64(Self.sectorSize)
            guard source.size >= offset + UInt64(Self.sectorSize) else { break }
            let descriptor = try source.read(at: offset, count: Self.sectorSize)
            guard descriptor[1...5].elementsEqual("CD001".utf8) else {
                throw ImageError("not an ISO 9660 image: volume descriptor \(index) (sector \(Self.firstDescriptorSector + index)) lacks the CD001 identifier")
            }
            let type = descriptor[0]
            if type == 255 { terminated = true; break }             // §8.3 terminator
            // §8.4.18 / §8.5.18: the root directory's record at byte 156.
            if type == 1, primary == nil {                          // §8.4 primary
                primary = try ISO9660DirectoryRecord(Array(descriptor[156..<190]), at: 0)
            } else if type == 2, joliet == nil, Self.isJolietEscape(descriptor[88..<91]) {
                joliet = try ISO9660DirectoryRecord(Array(descriptor[156..<190]), at: 0)
            }
        }
        guard let primary else {
            throw ImageError("not an ISO 9660 image: no primary volume descriptor" + (terminated ? "" : " (and no descriptor set terminator)"))
        }
        guard primary.isDirectory else { throw ImageError("corrupt ISO 9660 image: the root directory record is not a directory") }
        // Rock Ridge: SUSP's SP entry opens the System Use area of the root's "." record.
        let rootEntries = try Self.listing(of: primary, in: source)
        if let dot = rootEntries.first(where: { $0.identifier.first == 0 && $0.identifier.count == 1 }),
           let skip = RockRidge.skipLength(inRootSystemUse: dot.systemUse) {
            root = primary
            naming = .rockRidge(skip: skip)
        } else if let joliet {
            root = joliet
            naming = .joliet
        } else {
            root = primary
            naming = .plain
        }
    }

    /// The Joliet escape sequences in a supplementary descriptor's escape field: UCS-2
    /// levels 1, 2 and 3 ("%/@", "%/C", "%/E").
    static func isJolietEscape(_ bytes: ArraySlice<UInt8>) -> Bool {
        let escape = Array(bytes)
        return escape.count == 3 && escape[0] == 0x25 && escape[1] == 0x2F && [0x40, 0x43, 0x45].contains(escape[2])
    }

    /// The record for an absolute `path` ("/boot/grub/grub.cfg"), or nil if there is none.
    func lookup(_ path: String) throws(ImageError) -> ISO9660DirectoryRecord? {
        let components = path.split(separator: "/", omittingEmptySubsequences: true)
        guard components.count <= Self.maximumDepth else { throw ImageError("path \(path) is deeper than \(Self.maximumDepth) directories") }
        var current = root
        var budget = RockRidge.continuationBudget
        for (index, component) in components.enumerated() {
            guard current.isDirectory else { return nil }
            var match: ISO9660DirectoryRecord?
            for record in try Self.listing(of: current, in: source) where !record.isSelfOrParent {
                if try name(of: record, matches: String(component), budget: &budget) { match = record; break }
            }
            guard let match else { return nil }
            if index < components.count - 1 && !match.isDirectory { return nil }
            current = match
        }
        return current
    }

    /// A file's bytes. `limit` bounds the size a caller will accept.
    func contents(of record: ISO9660DirectoryRecord, path: String, limit: UInt64) throws(ImageError) -> [UInt8] {
        guard !record.isDirectory else { throw ImageError("\(path) is a directory") }
        guard !record.continuesInNextRecord else {
            throw ImageError("\(path) is stored in more than one extent (a file over 4 GiB), which SwiftVMM does not read")
        }
        guard UInt64(record.dataLength) <= limit else {
            throw ImageError("\(path) is \(record.dataLength) bytes, more than the \(limit) that fit")
        }
        let offset = UInt64(record.extent) * UInt64(Self.sectorSize)
        try source.check(offset, UInt64(record.dataLength), "the data of \(path)")
        return try source.read(at: offset, count: Int(record.dataLength))
    }

    /// Every record of a directory (§6.8.1: records never cross a sector; a zero length
    /// byte pads to the next sector).
    static func listing(of directory: ISO9660DirectoryRecord, in source: some ImageSource) throws(ImageError) -> [ISO9660DirectoryRecord] {
        guard directory.dataLength <= maximumDirectoryLength else {
            throw ImageError("corrupt ISO 9660 image: a directory of \(directory.dataLength) bytes")
        }
        let offset = UInt64(directory.extent) * UInt64(sectorSize)
        try source.check(offset, UInt64(directory.dataLength), "a directory")
        let bytes = try source.read(at: offset, count: Int(directory.dataLength))
        var records: [ISO9660DirectoryRecord] = []
        var position = 0
        while position < bytes.count {
            let length = Int(bytes[position])
            let sectorEnd = min((position / sectorSize + 1) * sectorSize, bytes.count)
            if length == 0 { position = sectorEnd; continue }
            guard position + length <= sectorEnd else {
                throw ImageError("corrupt ISO 9660 image: a directory record crosses a sector boundary (byte \(position) of the directory at block \(directory.extent))")
            }
            records.append(try ISO9660DirectoryRecord(bytes, at: position))
            position += length
        }
        return records
    }

    /// Whether `record` is named `wanted` under this volume's naming.
    private func name(of record: ISO9660DirectoryRecord, matches wanted: String, budget: inout Int) throws(ImageError) -> Bool {
        switch naming {
        case .rockRidge(let skip):
            if let name = try RockRidge.name(of: record, skip: skip, in: source, budget: &budget) {
                return name.elementsEqual(wanted.utf8)
            }
            return Self.plainName(record.identifier).lowercased() == wanted.lowercased()
        case .joliet:
            return Self.jolietName(record.identifier) == wanted
        case .plain:
            return Self.plainName(record.identifier).lowercased() == wanted.lowercased()
        }
    }

    /// §7.5.1: "NAME.EXT;VERSION" without the version and without a final "." (a file
    /// with no extension is recorded as "NAME.").
    static func plainName(_ identifier: ArraySlice<UInt8>) -> String {
        var name = String(decoding: identifier, as: UTF8.self)
        if let semicolon = name.lastIndex(of: ";") { name = String(name[..<semicolon]) }
        if name.hasSuffix(".") { name.removeLast() }
        return name
    }

    /// Joliet: UCS-2 big-endian, with the same ";1" suffix as plain names.
    static func jolietName(_ identifier: ArraySlice<UInt8>) -> String {
        let bytes = Array(identifier)
        let units = stride(from: 0, to: bytes.count - 1, by: 2).map { UInt16(bytes[$0]) << 8 | UInt16(bytes[$0 + 1]) }
        var name = String(decoding: units, as: UTF16.self)
        if let semicolon = name.lastIndex(of: ";") { name = String(name[..<semicolon]) }
        return name
    }
}
