import Foundation
import SwiftVMM

/// A test suite for `swiftvmm test`: kernels to boot, what each must print and how it must
/// end. Read from JSON or YAML (`Manifest.load(path:)`); every key is checked, so a
/// misspelt key is an error rather than a silently ignored setting.
///
///     {
///       "kernelDirectory": "build",
///       "cases": [
///         { "name": "hello", "kernel": "hello.elf", "expect": ["^Hello, world!$"],
///           "outcome": "debug-exit 0", "timeout": 10 }
///       ]
///     }
public struct Manifest: Sendable, Equatable {
    /// Where kernel and module paths are resolved: relative to the manifest's folder
    /// (default: that folder itself).
    public var kernelDirectory: String?
    public var cases: [TestCase]
    /// The folder the manifest was read from (not a key: set by `load`).
    public var baseDirectory: String = "."

    public init(kernelDirectory: String? = nil, cases: [TestCase], baseDirectory: String = ".") {
        self.kernelDirectory = kernelDirectory
        self.cases = cases
        self.baseDirectory = baseDirectory
    }

    /// One kernel boot and what it must do.
    public struct TestCase: Sendable, Equatable {
        /// Unique within the manifest; names the case in reports, logs and JUnit.
        public var name: String
        /// The kernel file, relative to the kernel directory (or absolute).
        public var kernel: String
        public var commandLine: String = ""
        /// `PATH[=STRING]` as `swiftvmm boot --module`, PATH relative to the kernel directory.
        public var modules: [String] = []
        public var cpus: Int = 1
        public var memorySize: UInt64 = 256 << 20
        public var interruptController: InterruptController = .userspace
        /// Regular expressions, each searched for in one complete line of serial output,
        /// in this order (a line matching one is not used for the next).
        public var expect: [String] = []
        public var outcome: ExpectedOutcome = .debugExit(0)
        public var timeout: Duration = .seconds(30)
        /// Boots of this case (the pass rate is reported when more than one).
        public var repeatCount: Int = 1

        public init(name: String, kernel: String) {
            self.name = name
            self.kernel = kernel
        }
    }
}

extension Manifest: Decodable {
    private enum Key: String, CodingKey, CaseIterable { case kernelDirectory, cases }

    public init(from decoder: any Decoder) throws {
        try rejectUnknownKeys(in: decoder, known: Key.allCases)
        let container = try decoder.container(keyedBy: Key.self)
        kernelDirectory = try container.decodeIfPresent(String.self, forKey: .kernelDirectory)
        cases = try container.decode([TestCase].self, forKey: .cases)
    }
}

extension Manifest.TestCase: Decodable {
    private enum Key: String, CodingKey, CaseIterable {
        case name, kernel, cmdline, modules, cpus, memory, irqchip, expect, outcome, timeout, `repeat`
    }

    public init(from decoder: any Decoder) throws {
        try rejectUnknownKeys(in: decoder, known: Key.allCases)
        let container = try decoder.container(keyedBy: Key.self)
        self.init(name: try container.decode(String.self, forKey: .name),
                  kernel: try container.decode(String.self, forKey: .kernel))
        guard !name.isEmpty else { throw invalid(.name, in: container, "must not be empty") }
        commandLine = try container.decodeIfPresent(String.self, forKey: .cmdline) ?? ""
        modules = try container.decodeIfPresent([String].self, forKey: .modules) ?? []
        cpus = try container.decodeIfPresent(Int.self, forKey: .cpus) ?? 1
        guard cpus >= 1 else { throw invalid(.cpus, in: container, "must be at least 1") }
        if container.contains(.memory) {
            // A number of MiB, or a string with a K, M, G or T suffix, as `--memory`.
            let text = try (try? container.decode(String.self, forKey: .memory))
                ?? container.decode(UInt64.self, forKey: .memory).description
            guard let bytes = RAMLayout.bytes(parsing: text) else {
                throw invalid(.memory, in: container, "\"\(text)\" is not a size (a number of MiB, or with K, M, G or T)")
            }
            memorySize = bytes
        }
        if let irqchip = try container.decodeIfPresent(String.self, forKey: .irqchip) {
            guard let value = InterruptController(rawValue: irqchip) else {
                throw invalid(.irqchip, in: container, "\"\(irqchip)\" is not user or kernel")
            }
            interruptController = value
        }
        expect = try container.decodeIfPresent([String].self, forKey: .expect) ?? []
        for (index, pattern) in expect.enumerated() {
            do { _ = try Regex(pattern) } catch {
                throw invalid(.expect, in: container, "pattern \(index + 1) \"\(pattern)\" is not a regular expression: \(error)")
            }
        }
        if let text = try container.decodeIfPresent(String.self, forKey: .outcome) {
            guard let value = ExpectedOutcome(text) else {
                throw invalid(.outcome, in: container, "\"\(text)\" is not one of: \(ExpectedOutcome.forms)")
            }
            outcome = value
        }
        if let seconds = try container.decodeIfPresent(Double.self, forKey: .timeout) {
            guard seconds > 0, seconds <= 86_400 else { throw invalid(.timeout, in: container, "must be 0 < seconds ≤ 86400") }
            timeout = .nanoseconds(Int64(seconds * 1e9))
        }
        repeatCount = try container.decodeIfPresent(Int.self, forKey: .repeat) ?? 1
        guard repeatCount >= 1 else { throw invalid(.repeat, in: container, "must be at least 1") }
    }

    private func invalid(_ key: Key, in container: KeyedDecodingContainer<Key>, _ problem: String) -> DecodingError {
        .dataCorruptedError(forKey: key, in: container, debugDescription: problem)
    }
}

/// Any key of a JSON object, for listing the keys a manifest object actually has.
private struct AnyKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}

private func rejectUnknownKeys<Key: CodingKey>(in decoder: any Decoder, known: [Key]) throws {
    let container = try decoder.container(keyedBy: AnyKey.self)
    let names = Set(known.map(\.stringValue))
    if let unknown = container.allKeys.first(where: { !names.contains($0.stringValue) }) {
        throw DecodingError.dataCorrupted(.init(
            codingPath: decoder.codingPath + [unknown],
            debugDescription: "unknown key; known keys: \(known.map(\.stringValue).joined(separator: ", "))"))
    }
}
