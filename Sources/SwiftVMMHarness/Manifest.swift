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
///
/// Cases that share a boot give `input` instead of `kernel`: the runner boots the
/// manifest's `snapshot` kernel once, snapshots it where it prints the `at` line (without
/// `at`: where it writes the snapshot port), and runs each such case (and each repeat) on a
/// fork of that snapshot, typing its input:
///
///     { "snapshot": { "kernel": "snapshot-input.elf", "cpus": 4, "at": "^READY$" },
///       "cases": [ { "name": "ipi", "input": "ipi", "expect": ["round trips$"] } ] }
public struct Manifest: Sendable, Equatable {
    /// Where kernel and module paths are resolved: relative to the manifest's folder
    /// (default: that folder itself).
    public var kernelDirectory: String?
    /// The boot that cases with `input` fork from.
    public var snapshot: SnapshotBoot?
    public var cases: [TestCase]
    /// The folder the manifest was read from (not a key: set by `load`).
    public var baseDirectory: String = "."

    public init(kernelDirectory: String? = nil, snapshot: SnapshotBoot? = nil, cases: [TestCase], baseDirectory: String = ".") {
        self.kernelDirectory = kernelDirectory
        self.snapshot = snapshot
        self.cases = cases
        self.baseDirectory = baseDirectory
    }

    /// A kernel booted once and snapshotted where it prints a line that matches `at`, or
    /// where it writes the snapshot port.
    public struct SnapshotBoot: Sendable, Equatable {
        public var boot: Boot
        /// A regular expression searched for in each complete serial line; the snapshot is
        /// taken a moment after the first line that matches. nil: where the guest writes the
        /// snapshot port (`SnapshotPort`), exactly there.
        public var at: String?
        /// How long the boot may take to print that line.
        public var timeout: Duration = .seconds(30)

        public init(boot: Boot, at: String?) {
            self.boot = boot
            self.at = at
        }
    }

    /// How to boot a kernel: a case's machine, or the snapshot's.
    public struct Boot: Sendable, Equatable {
        /// The kernel file, relative to the kernel directory (or absolute).
        public var kernel: String
        public var commandLine: String = ""
        /// `PATH[=STRING]` as `swiftvmm boot --module`, PATH relative to the kernel directory.
        public var modules: [String] = []
        public var cpus: Int = 1
        public var memorySize: UInt64 = 256 << 20
        public var interruptController: InterruptController = .userspace

        public init(kernel: String) {
            self.kernel = kernel
        }
    }

    /// One run and what it must do.
    public struct TestCase: Sendable, Equatable {
        /// Unique within the manifest; names the case in reports, logs and JUnit.
        public var name: String
        public var start: Start
        /// Regular expressions, each searched for in one complete line of serial output,
        /// in this order (a line matching one is not used for the next).
        public var expect: [String] = []
        public var outcome: ExpectedOutcome = .debugExit(0)
        public var timeout: Duration = .seconds(30)
        /// Boots of this case (the pass rate is reported when more than one).
        public var repeatCount: Int = 1

        public init(name: String, start: Start) {
            self.name = name
            self.start = start
        }

        /// A case that boots `kernel` with the defaults.
        public init(name: String, kernel: String) {
            self.init(name: name, start: .boot(Boot(kernel: kernel)))
        }

        /// A case boots its own kernel, or continues from the manifest's snapshot.
        public enum Start: Sendable, Equatable {
            case boot(Boot)
            /// A fork of the snapshot; these bytes and a newline are typed into COM1.
            case snapshot(input: String)
        }

        /// The case's own boot; nil for a case that forks from the snapshot.
        public var boot: Boot? {
            if case .boot(let boot) = start { boot } else { nil }
        }
    }
}

extension Manifest: Decodable {
    private enum Key: String, CodingKey, CaseIterable { case kernelDirectory, snapshot, cases }

    public init(from decoder: any Decoder) throws {
        try rejectUnknownKeys(in: decoder, known: names(Key.self))
        let container = try decoder.container(keyedBy: Key.self)
        kernelDirectory = try container.decodeIfPresent(String.self, forKey: .kernelDirectory)
        snapshot = try container.decodeIfPresent(SnapshotBoot.self, forKey: .snapshot)
        cases = try container.decode([TestCase].self, forKey: .cases)
        if snapshot == nil, let index = cases.firstIndex(where: { $0.boot == nil }) {
            throw DecodingError.dataCorrupted(.init(
                codingPath: [Key.cases, AnyKey(index: index), AnyKey(stringValue: "input")],
                debugDescription: "a case with input forks from the manifest's \"snapshot\", and there is none"))
        }
    }
}

extension Manifest.SnapshotBoot: Decodable {
    private enum Key: String, CodingKey, CaseIterable { case at, timeout }

    public init(from decoder: any Decoder) throws {
        try rejectUnknownKeys(in: decoder, known: names(Key.self) + names(Manifest.Boot.Key.self))
        let container = try decoder.container(keyedBy: Key.self)
        let at = try container.decodeIfPresent(String.self, forKey: .at)
        if let at {
            do { _ = try Regex(at) } catch {
                throw DecodingError.dataCorruptedError(forKey: .at, in: container, debugDescription: "\"\(at)\" is not a regular expression: \(error)")
            }
        }
        guard let boot = try Manifest.Boot(from: decoder) else {
            throw DecodingError.keyNotFound(Manifest.Boot.Key.kernel, .init(codingPath: decoder.codingPath, debugDescription: "no kernel"))
        }
        self.init(boot: boot, at: at)
        timeout = try decodeTimeout(container, .timeout) ?? timeout
    }
}

extension Manifest.Boot {
    /// The keys that say how to boot, in a case or in the snapshot.
    enum Key: String, CodingKey, CaseIterable { case kernel, cmdline, modules, cpus, memory, irqchip }

    /// nil when the object gives none of these keys; an error when it gives some but no kernel.
    init?(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: Key.self)
        guard !container.allKeys.isEmpty else { return nil }
        self.init(kernel: try container.decode(String.self, forKey: .kernel))
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
    }
}

extension Manifest.TestCase: Decodable {
    private enum Key: String, CodingKey, CaseIterable { case name, input, expect, outcome, timeout, `repeat` }

    public init(from decoder: any Decoder) throws {
        try rejectUnknownKeys(in: decoder, known: names(Key.self) + names(Manifest.Boot.Key.self))
        let container = try decoder.container(keyedBy: Key.self)
        let name = try container.decode(String.self, forKey: .name)
        guard !name.isEmpty else { throw invalid(.name, in: container, "must not be empty") }
        if let input = try container.decodeIfPresent(String.self, forKey: .input) {
            guard try decoder.container(keyedBy: Manifest.Boot.Key.self).allKeys.isEmpty else {
                throw invalid(.input, in: container, "a case with input forks from the manifest's snapshot, so it gives none of "
                              + Manifest.Boot.Key.allCases.map(\.stringValue).joined(separator: ", "))
            }
            self.init(name: name, start: .snapshot(input: input))
        } else if let boot = try Manifest.Boot(from: decoder) {
            self.init(name: name, start: .boot(boot))
        } else {
            throw DecodingError.dataCorrupted(.init(
                codingPath: decoder.codingPath,
                debugDescription: "missing key \"kernel\" (or \"input\", to fork from the manifest's snapshot)"))
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
        timeout = try decodeTimeout(container, .timeout) ?? timeout
        repeatCount = try container.decodeIfPresent(Int.self, forKey: .repeat) ?? 1
        guard repeatCount >= 1 else { throw invalid(.repeat, in: container, "must be at least 1") }
    }
}

/// A time limit in seconds, 0 < seconds ≤ one day.
private func decodeTimeout<Key: CodingKey>(_ container: KeyedDecodingContainer<Key>, _ key: Key) throws -> Duration? {
    guard let seconds = try container.decodeIfPresent(Double.self, forKey: key) else { return nil }
    guard seconds > 0, seconds <= 86_400 else { throw invalid(key, in: container, "must be 0 < seconds ≤ 86400") }
    return .nanoseconds(Int64(seconds * 1e9))
}

private func invalid<Key: CodingKey>(_ key: Key, in container: KeyedDecodingContainer<Key>, _ problem: String) -> DecodingError {
    .dataCorruptedError(forKey: key, in: container, debugDescription: problem)
}

/// Any key of a JSON object, for listing the keys a manifest object actually has.
private struct AnyKey: CodingKey {
    var stringValue: String
    var intValue: Int?
    init(stringValue: String) { self.stringValue = stringValue }
    init(index: Int) {
        stringValue = "\(index)"
        intValue = index
    }
    init?(intValue: Int) { self.init(index: intValue) }
}

private func rejectUnknownKeys(in decoder: any Decoder, known names: [String]) throws {
    let container = try decoder.container(keyedBy: AnyKey.self)
    if let unknown = container.allKeys.first(where: { !names.contains($0.stringValue) }) {
        throw DecodingError.dataCorrupted(.init(
            codingPath: decoder.codingPath + [unknown],
            debugDescription: "unknown key; known keys: \(names.joined(separator: ", "))"))
    }
}

private func names<Key: CodingKey & CaseIterable>(_ keys: Key.Type) -> [String] {
    keys.allCases.map(\.stringValue)
}
