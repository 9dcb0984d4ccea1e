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
        var seen: [String] = []   // keys given; an array for the reason `options` is searched
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
            // A search of 29 names, not a dictionary: the first Dictionary<String, …> makes the
            // runtime look up String's Hashable conformance by scanning every conformance in
            // the binary, 0.25 M instructions, more than the rest of the parse.
            guard let option = options.first(where: { $0.name == parts[0] }) else { return nil }
            guard option.arity == .repeating || !seen.contains(option.key) else { return nil }
            seen.append(option.key)
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
        value("cpus", Int.self) { $0.machine.cpus = $1 },
        value("memory", MemorySize.self) { $0.machine.memory = $1 },
        value("serial", SerialOption.self) { $0.machine.serial = $1 },
        value("serial2", SerialOption.self) { $0.machine.serial2 = $1 },
        flag("vga-text") { $0.machine.vgaText = true },
        flag("reboot") { $0.machine.reboot = true },
        value("pin", PinOption.self) { $0.machine.pin = $1 },
        value("irqchip", InterruptController.self) { $0.machine.irqchip = $1 },
        value("msr-policy", UnknownMSRPolicy.self) { $0.machine.msrPolicy = $1 },
        value("msr", MSROverride.self, .repeating) { $0.machine.msrOverrides.append($1) },
        value("cpu-vendor", CPUIDTable.Vendor.self) { $0.machine.cpuVendor = $1 },
        value("cpu-features", CPUFeatureChanges.self) { $0.machine.cpuFeatures = $1 },
        flag("nested") { $0.machine.nested = true },
        flag("no-nested", key: "nested") { $0.machine.nested = false },
        value("exit-on", String.self, .repeating) { $0.machine.exitOn.append($1) },
        value("exit-on-status", Int32.self) { $0.machine.exitOnStatus = $1 },
        value("fw-cfg", FirmwareConfigOption.self, .repeating) { $0.machine.firmwareConfigFiles.append($1) },
        value("debug-exit", DebugExitOption.self, .repeating) { $0.machine.debugExitPorts.append($1) },
        value("lost-ticks", PIT8254.LostTickPolicy.self) { $0.machine.lostTicks = $1 },
        flag("pc-testdev") { $0.machine.testDevice = true },
        flag("bios-timer") { $0.machine.biosTimer = true },
        value("gdb", GDBDevice.self) { $0.machine.gdb = $1 },
        flag("gdb-wait") { $0.machine.gdbWait = true },
        value("trace", TraceArgument.self, .repeating) { $0.machine.trace.append($1) },
        value("timeout", Double.self) { $0.machine.timeout = $1 },
        value("log-level", Logger.Level.self) { $0.machine.logLevel = $1 },
        value("cmdline", String.self) { $0.cmdline = $1 },
        value("module", String.self, .repeating) { $0.modules.append($1) },
        value("boot-protocol", BootProtocolArgument.self) { $0.bootProtocol = $1 },
        value("snapshot-on", String.self) { $0.snapshotOn = $1 },
        value("save", String.self) { $0.save = $1 },
    ]

    /// An option that takes a value: at most once (`.single`), or each time it is given
    /// (`.repeating`).
    private static func value<T: ExpressibleByArgument>(_ name: String, _: T.Type, _ arity: Option.Arity = .single,
                                                        _ set: @escaping @Sendable (inout BootRequest, T) -> Void) -> Option {
        Option(name: name, arity: arity, key: name) { request, text in
            guard let value = T(argument: text) else { return false }
            set(&request, value)
            return true
        }
    }

    /// A flag; flags that set the same property share a `key`.
    private static func flag(_ name: String, key: String? = nil, _ set: @escaping @Sendable (inout BootRequest) -> Void) -> Option {
        Option(name: name, arity: .flag, key: key ?? name) { request, _ in
            set(&request)
            return true
        }
    }
}
