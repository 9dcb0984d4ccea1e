import Foundation
import Testing

/// The layering the library's targets promise (README "Layout", Package.swift). The
/// compiler holds each target to the dependencies Package.swift gives it; this test holds
/// the sources to the promise itself, so a dependency added to Package.swift cannot
/// quietly break it: only SwiftVMMKVM imports the KVM shim, the chip models and boot
/// loaders import neither the KVM layer nor the machine, and the teaching example uses
/// the KVM layer alone.
@Suite struct LayeringTests {
    static let root = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// Each library target and the project modules its files may import.
    static let allowed: [String: Set<String>] = [
        "SwiftVMMSupport": ["CSanitizerSupport"],
        "SwiftVMMPlatform": ["SwiftVMMSupport"],
        "SwiftVMMMemory": ["CHostMemory", "SwiftVMMSupport", "SwiftVMMPlatform"],
        "SwiftVMMKVM": ["CKVM", "SwiftVMMSupport", "SwiftVMMPlatform"],
        "SwiftVMMDevices": ["SwiftVMMSupport", "SwiftVMMPlatform"],
        "SwiftVMMBoot": ["CZlib", "SwiftVMMSupport", "SwiftVMMPlatform", "SwiftVMMMemory"],
        "SwiftVMMDebug": ["SwiftVMMSupport", "SwiftVMMPlatform", "SwiftVMMMemory", "SwiftVMMKVM"],
        "SwiftVMM": [
            "CHostThread", "SwiftVMMSupport", "SwiftVMMPlatform", "SwiftVMMMemory", "SwiftVMMKVM",
            "SwiftVMMDevices", "SwiftVMMBoot", "SwiftVMMDebug",
        ],
    ]

    /// The project's own modules (`SwiftVMM…` and the C shims) each Swift file under
    /// `folder` imports, by file.
    static func imports(under folder: String) throws -> [(file: String, modules: Set<String>)] {
        let directory = root.appending(path: folder)
        let files = try #require(FileManager.default.enumerator(atPath: directory.path)?.allObjects as? [String])
        return try files.filter { $0.hasSuffix(".swift") }.sorted().map { name in
            let text = try String(contentsOf: directory.appending(path: name), encoding: .utf8)
            let modules = text.split(separator: "\n").compactMap { line in
                line.firstMatch(of: /^(?:@_exported )?import (SwiftVMM\w*|C[A-Z]\w*)$/).map { String($0.1) }
            }
            return ("\(folder)/\(name)", Set(modules))
        }
    }

    @Test(arguments: allowed.keys.sorted())
    func targetImportsOnlyTheLayersBelowIt(_ target: String) throws {
        let files = try Self.imports(under: "Sources/\(target)")
        #expect(!files.isEmpty)
        for (file, modules) in files {
            for module in modules.subtracting(Self.allowed[target, default: []]) {
                Issue.record("\(file) imports \(module), which is not below \(target)")
            }
        }
    }

    /// The quoted names in `target`'s `dependencies: [...]` in Package.swift.
    static func packageDependencies(of target: String) throws -> Set<String> {
        let manifest = try String(contentsOf: root.appending(path: "Package.swift"), encoding: .utf8)
        let pattern = try Regex("name: \"\(target)\",\\s*dependencies: \\[([^\\]]*)\\]")
        let list = try #require(manifest.firstMatch(of: pattern)?.output[1].substring, "the target in Package.swift")
        return Set(list.matches(of: /"([^"]+)"/).map { String($0.1) })
    }

    @Test(arguments: allowed.keys.sorted())
    func packageSwiftGivesEachTargetOnlyTheLayersBelowIt(_ target: String) throws {
        let declared = try Self.packageDependencies(of: target).filter { $0.hasPrefix("SwiftVMM") || $0.first == "C" }
        #expect(declared == Self.allowed[target], "Package.swift and the layering promised here disagree")
    }

    @Test func onlyTheKVMLayerImportsTheKVMShim() throws {
        for target in Self.allowed.keys where target != "SwiftVMMKVM" {
            #expect(try !Self.packageDependencies(of: target).contains("CKVM"), "\(target) depends on CKVM")
        }
        #expect(try Self.imports(under: "Sources/SwiftVMMKVM").contains { $0.modules.contains("CKVM") },
                "the check sees the imports")
    }

    @Test func devicesAndBootDependOnNeitherKVMNorTheMachine() throws {
        for target in ["SwiftVMMDevices", "SwiftVMMBoot"] {
            let dependencies = try Self.packageDependencies(of: target)
            #expect(dependencies.isDisjoint(with: ["CKVM", "SwiftVMMKVM", "SwiftVMM"]), "\(target): \(dependencies)")
        }
    }

    @Test func theMinimalVMMUsesTheKVMLayerAlone() throws {
        let files = try Self.imports(under: "Examples/MinimalVMM")
        #expect(files.map(\.modules) == [["SwiftVMMKVM"]])
    }
}
