import Foundation
import Testing

/// The layering the library's folders promise (README "Layout"), checked on the sources
/// until the folders become targets and the compiler checks it: only KVM/ imports the
/// KVM shim; the chip models, boot loaders, platform tables, guest memory and support code
/// name nothing of the KVM fd layer or of the machine that wires them.
@Suite struct LayeringTests {
    static let library = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appending(path: "Sources/SwiftVMM")

    /// Each Swift file of `folder` (relative to Sources/SwiftVMM) with its code lines, comments removed.
    static func sources(in folder: String) throws -> [(file: String, lines: [String])] {
        let root = library.appending(path: folder)
        let files = try #require(FileManager.default.enumerator(atPath: root.path)?.allObjects as? [String])
        return try files.filter { $0.hasSuffix(".swift") }.sorted().map { name in
            let text = try String(contentsOf: root.appending(path: name), encoding: .utf8)
            let code = text.split(separator: "\n", omittingEmptySubsequences: false).map { line in
                line.firstRange(of: "//").map { String(line[..<$0.lowerBound]) } ?? String(line)
            }
            return ("\(folder)/\(name)", code)
        }
    }

    static let folders = ["Boot", "Concurrency", "Debug", "Devices", "KVM", "Machine", "Memory", "Platform", "Support"]

    @Test func onlyKVMImportsTheKVMShim() throws {
        for folder in Self.folders where folder != "KVM" {
            for (file, lines) in try Self.sources(in: folder) where lines.contains("import CKVM") {
                Issue.record("\(file) imports CKVM")
            }
        }
        #expect(try Self.sources(in: "KVM").contains { $0.lines.contains("import CKVM") }, "the check sees the imports")
    }

    @Test(arguments: ["Boot", "Devices", "Memory", "Platform", "Support", "Concurrency"])
    func lowerLayersNameNeitherKVMNorTheMachine(_ folder: String) throws {
        let above = /\b(KVM|VirtualMachine|VCPU|VirtualCPU|VCPUExit|KVMError|Machine|MachineError|VCPURunner|RunControl|HostVM|Board|CHostThread)\b/
        let files = try Self.sources(in: folder)
        #expect(!files.isEmpty)
        for (file, lines) in files {
            for (number, line) in lines.enumerated() where line.contains(above) {
                Issue.record("\(file):\(number + 1) names a type above its layer: \(line.trimmingCharacters(in: .whitespaces))")
            }
        }
    }
}
