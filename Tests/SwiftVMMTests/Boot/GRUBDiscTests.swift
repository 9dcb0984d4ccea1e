import Foundation
import Testing
import TestGuests
@testable import SwiftVMM
@testable import SwiftVMMBoot

/// GRUB discs made by `grub-mkrescue` and xorriso, read without booting: the default entry's
/// kernel, modules and strings as GRUB 2 passes them, and the refusals.
@Suite(.enabled(if: GRUBRescue.available, "\(GRUBRescue.unavailableReason ?? "")"))
struct GRUBDiscTests {
    let directory = TemporaryDirectory()
    static let moduleText = Array("module-one-contents\n".utf8)

    func gzip(_ bytes: [UInt8]) throws -> [UInt8] {
        let path = try directory.file("gz-input", bytes)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/gzip")
        process.arguments = ["-9", "-f", path]
        try process.run()
        process.waitUntilExit()
        return Array(try Data(contentsOf: URL(fileURLWithPath: path + ".gz")))
    }

    func payload(_ files: [String: [UInt8]], name: String) throws -> BootPayload {
        let iso = try GRUBRescue.make(files, name: name, in: directory)
        #expect(GRUBDisc.isDisc(path: iso))
        return try GRUBDisc.payload(path: iso, limit: 64 << 20)
    }

    func failure(_ files: [String: [UInt8]], name: String) throws -> String {
        let iso = try GRUBRescue.make(files, name: name, in: directory)
        do {
            _ = try GRUBDisc.payload(path: iso, limit: 64 << 20)
            Issue.record("\(name) booted")
            return ""
        } catch {
            #expect(error.file.hasPrefix(iso), "the message names the disc")
            return error.description
        }
    }

    @Test func multiboot2EntryWithModules() throws {
        let config = """
            set timeout=0
            set default=0
            insmod all_video
            menuentry "mbinfo2" {
              multiboot2 /boot/k.elf console=ttyS0 "two words" it\\'s
              module2 /boot/m1 first arg
              module2 /boot/m2.gz
              module2 --nounzip /boot/m2.gz raw
            }
            """
        let compressed = try gzip(Self.moduleText + Self.moduleText)
        let boot = try payload(["/boot/k.elf": mbinfo2Guest, "/boot/m1": Self.moduleText, "/boot/m2.gz": compressed,
                                "/boot/grub/grub.cfg": Array(config.utf8)], name: "mb2")
        #expect(boot.kernel.bytes == mbinfo2Guest)
        #expect(boot.bootProtocol == .multiboot2)
        #expect(boot.commandLine == #"console=ttyS0 "two words" it\'s"#)
        #expect(boot.loaderName == "GRUB 2.06-13+deb12u2")
        #expect(boot.modules.map(\.string) == ["first arg", "", "raw"])
        #expect(boot.modules.map(\.image.bytes) == [Self.moduleText, Self.moduleText + Self.moduleText, compressed])
    }

    /// Names as plain ISO 9660 identifiers (no Rock Ridge, no Joliet) and as Joliet names.
    @Test(arguments: [(["--norock", "-J"], ISO9660Volume.Naming.joliet), (["--norock"], .plain), (["-r"], .rockRidge(skip: 0))])
    func namingSchemes(_ options: [String], _ naming: ISO9660Volume.Naming) throws {
        let config = Array("menuentry x {\n multiboot /boot/kernel.elf a\n module /boot/m1 b\n}\n".utf8)
        let iso = try GRUBRescue.mkisofs(["/boot/kernel.elf": mbinfoGuest, "/boot/m1": Self.moduleText, "/boot/grub/grub.cfg": config],
                                         options: options, name: "naming-\(options.joined())", in: directory)
        #expect(try ISO9660Volume(FileImageSource(path: iso)).naming == naming)
        let boot = try GRUBDisc.payload(path: iso, limit: 64 << 20)
        #expect(boot.kernel.bytes == mbinfoGuest && boot.commandLine == "a" && boot.modules.map(\.string) == ["b"])
    }

    @Test func refusals() throws {
        let kernel = ["/boot/k.elf": mbinfo2Guest]
        func menu(_ body: String) -> [String: [UInt8]] {
            kernel.merging(["/boot/grub/grub.cfg": Array("set timeout=0\nmenuentry x {\n\(body)\n}\n".utf8)]) { $1 }
        }
        #expect(try failure(kernel, name: "no-config").hasSuffix("no /boot/grub/grub.cfg on this disc: SwiftVMM boots GRUB discs (grub-mkrescue) by reading that file"))
        #expect(try failure(menu(" linux /boot/k.elf"), name: "linux")
                .hasSuffix(#":/boot/grub/grub.cfg: line 3: linux (in menu entry "x"): SwiftVMM boots multiboot kernels only (Linux's boot protocol is not supported)"#))
        #expect(try failure(menu(" multiboot2 /boot/missing.elf"), name: "missing").hasSuffix("line 3: /boot/missing.elf is not on the disc"))
        #expect(try failure(menu(" multiboot2 boot/k.elf"), name: "relative").hasSuffix("line 3: boot/k.elf: GRUB needs an absolute path such as /boot/kernel"))
        let xz: [UInt8] = [0xFD, 0x37, 0x7A, 0x58, 0x5A, 0x00, 1, 2, 3]
        #expect(try failure(menu(" multiboot2 /boot/k.elf\n module2 /boot/m.xz").merging(["/boot/m.xz": xz]) { $1 }, name: "xz")
                .hasSuffix("line 4: /boot/m.xz is xz-compressed; SwiftVMM unpacks gzip only (store it uncompressed or gzip it, or load it with --nounzip)"))
        let truncated = Array(try gzip(Self.moduleText).dropLast(6))
        #expect(try failure(menu(" multiboot2 /boot/k.elf\n module2 /boot/m.gz").merging(["/boot/m.gz": truncated]) { $1 }, name: "badgz")
                .hasSuffix("line 4: truncated gzip data: it ends before the end of its stream"))
        // With --nounzip the same bytes are passed as they are.
        let iso = try GRUBRescue.make(menu(" multiboot2 /boot/k.elf\n module2 --nounzip /boot/m.xz").merging(["/boot/m.xz": xz]) { $1 },
                                      name: "nounzip", in: directory)
        #expect(try GRUBDisc.payload(path: iso, limit: 64 << 20).modules.map(\.image.bytes) == [xz])
    }

    /// A module larger than the guest's RAM is refused before it is read.
    @Test func filesLargerThanRAMAreRefused() throws {
        let iso = try GRUBRescue.make(["/boot/k.elf": mbinfo2Guest, "/boot/big": [UInt8](repeating: 7, count: 3 << 20),
                                       "/boot/grub/grub.cfg": Array("menuentry x {\n multiboot2 /boot/k.elf\n module2 /boot/big\n}\n".utf8)],
                                      name: "big", in: directory)
        #expect(throws: BootError(file: iso + ":/boot/grub/grub.cfg", problem: "line 3: /boot/big is 3145728 bytes, more than the 2097152 that fit")) {
            try GRUBDisc.payload(path: iso, limit: 2 << 20)
        }
    }

    /// The ISO gives the protocol, command line and modules; the configuration may not too.
    @Test func discWithCommandLineIsRefused() throws {
        let iso = try GRUBRescue.make(["/boot/k.elf": mbinfo2Guest,
                                       "/boot/grub/grub.cfg": Array("menuentry x { multiboot2 /boot/k.elf }".utf8)],
                                      name: "cmdline", in: directory)
        let configuration = Machine.Configuration(kernel: .file(iso), commandLine: "x", serialOutput: CollectingSink())
        #expect(throws: BootError(file: iso, problem: "is a GRUB disc: its grub.cfg gives the boot protocol, command line and modules (drop --boot-protocol, --cmdline and --module)")) {
            try configuration.bootPayload()
        }
    }

    /// Every prefix of a real rescue ISO up to its descriptors and directories ends in an error.
    @Test func truncatedRescueISO() throws {
        let iso = try GRUBRescue.make(["/boot/k.elf": mbinfo2Guest,
                                       "/boot/grub/grub.cfg": Array("menuentry x { multiboot2 /boot/k.elf }".utf8)],
                                      name: "truncated", in: directory)
        let bytes = Array(try Data(contentsOf: URL(fileURLWithPath: iso)))
        for length in stride(from: 0, to: min(bytes.count, 200 << 10), by: 4093) {
            #expect(throws: BootError.self, "\(length) bytes") {
                try GRUBDisc.payload(source: MemoryImageSource(bytes: Array(bytes.prefix(length))), name: "cut.iso", limit: 64 << 20)
            }
        }
    }
}
