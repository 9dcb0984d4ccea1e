import ArgumentParser
import SwiftVMM
import SystemPackage

/// `--fw-cfg name=NAME,file=PATH` or `name=NAME,string=STRING` (QEMU's `-fw_cfg` syntax;
/// `,,` is a comma): a file in fw_cfg's directory. The string is served without a NUL,
/// as QEMU does.
struct FirmwareConfigOption: ExpressibleByArgument {
    enum Source { case file(String), string(String) }
    let name: String
    let source: Source

    init?(argument: String) {
        var name: String?, source: Source?
        for (key, value) in QEMUOptionList.pairs(argument) {
            switch key {
            case "name" where name == nil: name = value
            case "file" where source == nil: source = .file(value)
            case "string" where source == nil: source = .string(value)
            default: return nil
            }
        }
        guard let name, let source, !name.isEmpty else { return nil }
        self.name = name
        self.source = source
    }

    /// A file that cannot be read, named in the message.
    struct ReadError: Error, CustomStringConvertible { let description: String }

    /// The file's contents.
    func file() throws(ReadError) -> FirmwareConfigItems.File {
        switch source {
        case .string(let text): return .init(name: name, data: Array(text.utf8))
        case .file(let path):
            do {
                let fd = try FileDescriptor.open(path, .readOnly, options: .closeOnExec)
                defer { try? fd.close() }
                var data: [UInt8] = []
                var chunk = [UInt8](repeating: 0, count: 1 << 16)
                while true {
                    // SAFETY: `chunk` is a local 64 KiB array; read(2) writes at most its count into it,
                    // and the pointer does not escape the closure.
                    let count = try chunk.withUnsafeMutableBytes { try fd.read(into: $0) }
                    if count == 0 { break }
                    data += chunk[..<count]
                }
                return .init(name: name, data: data)
            } catch {
                throw ReadError(description: "--fw-cfg \(name): \(path): cannot read: \(error)")
            }
        }
    }
}

/// `--debug-exit PORT[,SIZE]`: another range of debug-exit ports (QEMU's
/// `-device isa-debug-exit,iobase=PORT,iosize=SIZE`); SIZE defaults to 1.
struct DebugExitOption: ExpressibleByArgument {
    let ports: Range<UInt16>

    init?(argument: String) {
        let parts = argument.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        guard (1...2).contains(parts.count), let base = parseNumber(parts[0]),
              let size = parts.count == 2 ? parseNumber(parts[1]) : 1,
              size > 0, base + size <= 0x10000 else { return nil }
        ports = UInt16(base)..<UInt16(base + size - 1) + 1
    }
}
