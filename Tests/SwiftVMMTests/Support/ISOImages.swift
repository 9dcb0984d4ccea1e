import Foundation
@testable import SwiftVMM

/// A small ISO 9660 image built in memory, sector by sector (ECMA-119): a primary volume
/// descriptor, a terminator, one sector per directory and the files after them, with Rock
/// Ridge `NM` names (and SUSP's `SP` in the root) unless `rockRidge` is false. Tests take
/// it apart and corrupt it on purpose.
struct ISOBuilder {
    indirect enum Node: Sendable {
        case file(String, [UInt8])
        case directory(String, [Node])
    }

    var rockRidge = true
    static let sector = 2048

    /// The image, and the sector of each path ("/boot/grub/grub.cfg") for corrupting it.
    func build(_ root: [Node]) -> (image: [UInt8], sectors: [String: Int]) {
        // Sectors: 0-15 system area, 16 PVD, 17 terminator, then directories, then files.
        var next = 18
        var sectors: [String: Int] = [:]
        func assignDirectories(_ path: String, _ children: [Node]) {
            sectors[path] = next; next += 1
            for case .directory(let name, let grandchildren) in children { assignDirectories(path + name + "/", grandchildren) }
        }
        assignDirectories("/", root)
        func assignFiles(_ path: String, _ children: [Node]) {
            for child in children {
                switch child {
                case .file(let name, let bytes):
                    sectors[path + name] = next
                    next += max(1, (bytes.count + Self.sector - 1) / Self.sector)
                case .directory(let name, let grandchildren): assignFiles(path + name + "/", grandchildren)
                }
            }
        }
        assignFiles("/", root)
        var image = [UInt8](repeating: 0, count: next * Self.sector)

        func write(_ bytes: [UInt8], sector: Int, offset: Int = 0) {
            image.replaceSubrange((sector * Self.sector + offset)..<(sector * Self.sector + offset + bytes.count), with: bytes)
        }
        func directory(_ path: String, _ children: [Node], parent: Int) {
            let own = sectors[path]!
            var data = Self.record(extent: own, length: Self.sector, directory: true, identifier: [0],
                                   systemUse: path == "/" && rockRidge ? [0x53, 0x50, 7, 1, 0xBE, 0xEF, 0] : [])
            data += Self.record(extent: parent, length: Self.sector, directory: true, identifier: [1])
            for child in children {
                switch child {
                case .file(let name, let bytes):
                    data += Self.record(extent: sectors[path + name]!, length: bytes.count, directory: false,
                                        identifier: Array((name.uppercased() + ";1").utf8), systemUse: nm(name))
                    write(bytes, sector: sectors[path + name]!)
                case .directory(let name, let grandchildren):
                    data += Self.record(extent: sectors[path + name + "/"]!, length: Self.sector, directory: true,
                                        identifier: Array(name.uppercased().utf8), systemUse: nm(name))
                    directory(path + name + "/", grandchildren, parent: own)
                }
            }
            precondition(data.count <= Self.sector, "ISOBuilder keeps each directory in one sector")
            write(data, sector: own)
        }
        func nm(_ name: String) -> [UInt8] { rockRidge ? [0x4E, 0x4D, UInt8(5 + name.utf8.count), 1, 0] + Array(name.utf8) : [] }
        directory("/", root, parent: sectors["/"]!)

        var pvd = [UInt8](repeating: 0, count: Self.sector)
        pvd[0] = 1
        pvd.replaceSubrange(1..<6, with: Array("CD001".utf8))
        pvd[6] = 1
        pvd.replaceSubrange(80..<88, with: Self.bothEndian32(UInt32(next)))
        pvd.replaceSubrange(128..<132, with: [0x00, 0x08, 0x08, 0x00])
        pvd.replaceSubrange(156..<190, with: Self.record(extent: sectors["/"]!, length: Self.sector, directory: true, identifier: [0]))
        write(pvd, sector: 16)
        write([255] + Array("CD001".utf8) + [1], sector: 17)
        return (image, sectors)
    }

    /// §9.1 directory record.
    static func record(extent: Int, length: Int, directory: Bool, identifier: [UInt8], systemUse: [UInt8] = []) -> [UInt8] {
        var record = [UInt8](repeating: 0, count: 33)
        record.replaceSubrange(2..<10, with: bothEndian32(UInt32(extent)))
        record.replaceSubrange(10..<18, with: bothEndian32(UInt32(length)))
        record[25] = directory ? 2 : 0
        record.replaceSubrange(28..<32, with: [1, 0, 0, 1])
        record[32] = UInt8(identifier.count)
        record += identifier
        if identifier.count % 2 == 0 { record.append(0) }
        record += systemUse
        if record.count % 2 == 1 { record.append(0) }
        record[0] = UInt8(record.count)
        return record
    }

    static func bothEndian32(_ value: UInt32) -> [UInt8] {
        let little = withUnsafeBytes(of: value.littleEndian, Array.init)
        return little + little.reversed()
    }
}

/// `grub-mkrescue` (Debian's grub-pc-bin, xorriso and mtools), for ISOs made the way GRUB
/// users make them. Tests that need it are skipped, saying so, where it is missing.
enum GRUBRescue {
    static let tool = "/usr/bin/grub-mkrescue"
    static let unavailableReason: String? = {
        for (path, package) in [(tool, "grub-common"), ("/usr/lib/grub/i386-pc/kernel.img", "grub-pc-bin"),
                                ("/usr/bin/xorriso", "xorriso"), ("/usr/bin/mformat", "mtools")]
        where !FileManager.default.fileExists(atPath: path) {
            return "needs \(path) (Debian package \(package); .ci/run installs it)"
        }
        return nil
    }()
    static var available: Bool { unavailableReason == nil }

    /// Runs `grub-mkrescue` on a tree of `files` (path → contents) and returns the ISO's path.
    static func make(_ files: [String: [UInt8]], name: String, in directory: TemporaryDirectory) throws -> String {
        let (tree, iso) = try writeTree(files, name: name, in: directory)
        try run(tool, ["-o", iso, tree])
        return iso
    }

    /// Runs xorriso as mkisofs with `options` (e.g. `-J` for Joliet names only) on a tree.
    static func mkisofs(_ files: [String: [UInt8]], options: [String], name: String, in directory: TemporaryDirectory) throws -> String {
        let (tree, iso) = try writeTree(files, name: name, in: directory)
        try run("/usr/bin/xorriso", ["-as", "mkisofs"] + options + ["-o", iso, tree])
        return iso
    }

    /// Writes `files` under a fresh tree; returns the tree and the ISO path to make from it.
    private static func writeTree(_ files: [String: [UInt8]], name: String, in directory: TemporaryDirectory) throws -> (String, String) {
        let tree = directory.path + "/tree-" + name
        for (path, bytes) in files {
            let url = URL(fileURLWithPath: tree + path)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try Data(bytes).write(to: url)
        }
        return (tree, directory.path + "/" + name + ".iso")
    }

    private static func run(_ tool: String, _ arguments: [String]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: tool)
        process.arguments = arguments
        process.standardOutput = FileHandle.nullDevice
        let errors = Pipe()
        process.standardError = errors
        try process.run()
        let message = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw RescueError(description: "\(tool) failed (\(process.terminationStatus)): \(String(decoding: message, as: UTF8.self))")
        }
    }

    struct RescueError: Error, CustomStringConvertible { let description: String }
}
