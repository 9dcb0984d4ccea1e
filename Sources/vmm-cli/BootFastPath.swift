import ArgumentParser
import Logging
import SwiftVMM

/// `swiftvmm boot KERNEL --name VALUE ...`, parsed without swift-argument-parser's
/// reflection, for the command a test harness runs thousands of times.
///
/// ArgumentParser builds a command's model by reflecting over its property wrappers with
/// `Mirror`, and does it more than once per run: 20.9 M of the 21.4 M instructions swiftvmm
/// ran before it could open /dev/kvm (BENCHMARKS.md, "Start-up"). Even creating the
/// wrappers costs 1.4 M: each `Option<T>` type is looked up by its mangled name, which
/// scans every protocol conformance in the binary. No library parses without that model,
/// so this is our own code, kept as narrow as it can be, and it fills a `BootRequest` (plain
/// values) without creating a single wrapper:
/// - It only accepts what it fully understands: `boot`, one kernel, and long options from
///   `options` as `--name VALUE`, `--name=VALUE` or `--flag`. Anything else (`--help`, a
///   short option, `--`, a value that starts with `-`, an option given twice, a value its
///   type rejects) returns nil, and ArgumentParser parses the command line instead. Help,
///   completion scripts and every error message stay ArgumentParser's.
/// - Values go through the same `init(argument:)` ArgumentParser calls.
/// - `BootFastPathTests` hold it to ArgumentParser: every option of `boot`'s help is in
///   the table, and both parsers give the same `BootRequest`, field for field, defaults
///   included.
enum BootFastPath {
    /// One long option of `boot`: how it takes its value, and where the value goes.
    struct Option: Sendable {
        enum Arity { case flag, single, repeating }
        let name: String
        let arity: Arity
        /// Options that set the same property (`--nested` and `--no-nested`) share a key.
        let key: String
        /// Stores one value (`""` for a flag); false when the value does not parse.
        let store: @Sendable (inout BootRequest, String) -> Bool
    }

    /// The parsed command, or nil to leave the command line to ArgumentParser.
    static func parse(_ arguments: [String]) -> BootRequest? {
        guard arguments.first == "boot" else { return nil }
        var request = BootRequest(kernel: "")
        var kernel: String?
        var seen: Set<String> = []
        var index = 1
        while index < arguments.count {
            let word = arguments[index]
            index += 1
            guard word.hasPrefix("--") else {
                guard kernel == nil, !word.hasPrefix("-") else { return nil }
                kernel = word
                continue
            }
            let parts = word.dropFirst(2).split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard let option = byName[String(parts[0])] else { return nil }
            guard option.arity == .repeating || seen.insert(option.key).inserted else { return nil }
            var value = ""
            if option.arity != .flag {
                if parts.count == 2 {
                    // ArgumentParser reads `--name=` as a missing value.
                    guard !parts[1].isEmpty else { return nil }
                    value = String(parts[1])
                } else if index < arguments.count, !arguments[index].hasPrefix("-") {
                    value = arguments[index]
                    index += 1
                } else {
                    return nil
                }
            } else if parts.count == 2 {
                return nil
            }
            guard option.store(&request, value) else { return nil }
        }
        guard let kernel else { return nil }
        request.kernel = kernel
        return request
    }

    /// Every long name of `boot` and `MachineOptions`. `-s` and `-S` are short names and
    /// take ArgumentParser's path.
    static let options: [Option] = [
        value("cpus", \.machine.cpus),
        value("memory", \.machine.memory),
        value("serial", \.machine.serial),
        value("serial2", \.machine.serial2),
        flag("vga-text", \.machine.vgaText),
        flag("reboot", \.machine.reboot),
        value("pin", \.machine.pin),
        value("irqchip", \.machine.irqchip),
        value("msr-policy", \.machine.msrPolicy),
        list("msr", \.machine.msrOverrides),
        value("cpu-vendor", \.machine.cpuVendor),
        value("cpu-features", \.machine.cpuFeatures),
        flag("nested", \.machine.nested, setting: true),
        flag("no-nested", \.machine.nested, setting: false, key: "nested"),
        list("exit-on", \.machine.exitOn),
        value("exit-on-status", \.machine.exitOnStatus),
        list("fw-cfg", \.machine.firmwareConfigFiles),
        list("debug-exit", \.machine.debugExitPorts),
        value("lost-ticks", \.machine.lostTicks),
        flag("pc-testdev", \.machine.testDevice),
        flag("bios-timer", \.machine.biosTimer),
        value("gdb", \.machine.gdb),
        flag("gdb-wait", \.machine.gdbWait),
        list("trace", \.machine.trace),
        value("timeout", \.machine.timeout),
        value("log-level", \.machine.logLevel),
        value("cmdline", \.cmdline),
        list("module", \.modules),
        value("boot-protocol", \.bootProtocol),
    ]

    private static let byName = Dictionary(uniqueKeysWithValues: options.map { ($0.name, $0) })

    private static func value<T: ExpressibleByArgument & Sendable>(_ name: String, _ path: WritableKeyPath<BootRequest, T> & Sendable) -> Option {
        Option(name: name, arity: .single, key: name) { request, text in
            guard let value = T(argument: text) else { return false }
            request[keyPath: path] = value
            return true
        }
    }

    private static func value<T: ExpressibleByArgument & Sendable>(_ name: String, _ path: WritableKeyPath<BootRequest, T?> & Sendable) -> Option {
        Option(name: name, arity: .single, key: name) { request, text in
            guard let value = T(argument: text) else { return false }
            request[keyPath: path] = value
            return true
        }
    }

    private static func list<T: ExpressibleByArgument & Sendable>(_ name: String, _ path: WritableKeyPath<BootRequest, [T]> & Sendable) -> Option {
        Option(name: name, arity: .repeating, key: name) { request, text in
            guard let value = T(argument: text) else { return false }
            request[keyPath: path].append(value)
            return true
        }
    }

    private static func flag(_ name: String, _ path: WritableKeyPath<BootRequest, Bool> & Sendable) -> Option {
        flag(name, path, setting: true)
    }

    private static func flag<Value: Sendable>(_ name: String, _ path: WritableKeyPath<BootRequest, Value> & Sendable,
                                              setting value: Value, key: String? = nil) -> Option {
        Option(name: name, arity: .flag, key: key ?? name) { request, _ in
            request[keyPath: path] = value
            return true
        }
    }
}
