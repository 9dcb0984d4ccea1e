import ArgumentParser
import Logging
import SwiftVMM
import SystemPackage
#if canImport(Glibc)
import Glibc
#endif

/// Options shared by every command that runs a machine.
struct MachineOptions: ParsableArguments {
    @Option(help: "Number of vCPUs.")
    var cpus: Int = MachineSettings.defaults.cpus

    @Option(help: "Guest RAM: a number of MiB, or a size with K, M, G or T.")
    var memory: MemorySize = MachineSettings.defaults.memory

    @Option(help: "Where COM1 goes: stdio, file:PATH or none.")
    var serial: SerialOption = MachineSettings.defaults.serial

    @Option(help: "COM2 (0x2F8, IRQ 3): stdio (output only), file:PATH, or none (no COM2, as in QEMU).")
    var serial2: SerialOption = MachineSettings.defaults.serial2

    @Flag(help: "Print the rows of the VGA text page (0xB8000) that change, as plain text, where COM1's output goes.")
    var vgaText = false

    @Flag(help: "Boot the kernel again when the guest asks for a reset, instead of exiting with status 8 (CMOS RAM is kept).")
    var reboot = false

    @Option(help: "Pin vCPU threads: auto (round robin over allowed CPUs), none, or a list like 0,1.")
    var pin: PinOption = MachineSettings.defaults.pin

    @Option(help: ArgumentHelp("""
        Interrupt controllers: user (SwiftVMM's local APICs: exact timers, deterministic SMP \
        start-up, deadlock detection) or kernel (KVM's in-kernel irqchip; HLT stays inside KVM, \
        so exit status 6 is never reported).
        """, valueName: "user|kernel"))
    var irqchip: InterruptController = MachineSettings.defaults.irqchip

    @Option(help: ArgumentHelp("Unknown MSRs: strict (#GP, as hardware), log (read 0, writes dropped, one warning each), ignore (the same, silently).", valueName: "strict|log|ignore"))
    var msrPolicy: UnknownMSRPolicy = MachineSettings.defaults.msrPolicy

    @Option(name: .customLong("msr"), help: ArgumentHelp("Make RDMSR of INDEX return VALUE (repeatable), e.g. 0xce=0x1a00.", valueName: "INDEX=VALUE"))
    var msrOverrides: [MSROverride] = MachineSettings.defaults.msrOverrides

    @Option(help: ArgumentHelp("CPUID vendor: host, intel or amd.", valueName: "host|intel|amd"))
    var cpuVendor: CPUIDTable.Vendor = MachineSettings.defaults.cpuVendor

    @Option(help: ArgumentHelp("Turn CPUID features on or off by name, e.g. --cpu-features=-x2apic,+invtsc (names: \(CPUIDTable.features.keys.sorted().joined(separator: " "))).", valueName: "+NAME,-NAME"))
    var cpuFeatures: CPUFeatureChanges?

    @Flag(inversion: .prefixedNo, help: "Advertise VMX/SVM so the guest can run its own hypervisor (default: where the host KVM offers nesting; --nested on a host without it is an error).")
    var nested: Bool?

    @Option(name: .customLong("exit-on"), help: ArgumentHelp("End the run after a line of serial output matching REGEX (repeatable).", valueName: "REGEX"))
    var exitOn: [String] = MachineSettings.defaults.exitOn

    @Option(help: "The exit status when --exit-on matches.")
    var exitOnStatus: Int32 = MachineSettings.defaults.exitOnStatus

    @Option(name: .customLong("fw-cfg"), help: ArgumentHelp("A file in fw_cfg's directory (repeatable), as QEMU's -fw_cfg.", valueName: "name=NAME,file=PATH|string=STRING"))
    var firmwareConfigFiles: [FirmwareConfigOption] = MachineSettings.defaults.firmwareConfigFiles

    @Option(name: .customLong("debug-exit"), help: ArgumentHelp("More debug-exit ports besides 0xF4 (repeatable), as QEMU's isa-debug-exit iobase and iosize.", valueName: "PORT[,SIZE]"))
    var debugExitPorts: [DebugExitOption] = MachineSettings.defaults.debugExitPorts

    @Option(help: ArgumentHelp("PIT and HPET edge ticks the host ran too late to send on time: delay (each sent later, once the guest took the one before) or discard (merged into one), as QEMU's lost_tick_policy.", valueName: "delay|discard"))
    var lostTicks: PIT8254.LostTickPolicy = MachineSettings.defaults.lostTicks

    @Flag(name: .customLong("pc-testdev"), help: "Add QEMU's pc-testdev (ports 0xE0-0xEB, 0x2000-0x2017, MMIO 0xFF000000), which kvm-unit-tests drives; it replaces the Bochs console at 0xE9.")
    var testDevice = false

    @Flag(name: .customLong("bios-timer"), help: "Leave what a PC BIOS leaves running: PIT channel 0 at 18.2 Hz on IRQ 0, unmasked, and a real-mode interrupt vector table whose handlers acknowledge and return (on with QEMU's spelling unless -machine pit=off).")
    var biosTimer = false

    @Option(help: ArgumentHelp("Start a gdb remote stub listening on PORT (loopback) or HOST:PORT, e.g. tcp::1234.", valueName: "tcp::PORT|tcp:HOST:PORT"))
    var gdb: GDBDevice?

    @Flag(name: .customShort("s"), help: "Shorthand for --gdb tcp::1234 (QEMU's -s).")
    var gdbDefaultPort = false

    @Flag(name: [.customLong("gdb-wait"), .customShort("S")], help: "With --gdb: hold every vCPU before its first instruction until gdb continues (QEMU's -S).")
    var gdbWait = false

    @Option(help: ArgumentHelp("Trace VM exits: exits (one line per exit on stderr), exits=FILE, or summary (counts and time per exit kind at the end); repeatable.", valueName: "exits[=FILE]|summary"))
    var trace: [TraceArgument] = MachineSettings.defaults.trace

    @Option(help: "Stop the guest after this many seconds (exit status 124).")
    var timeout: Double?

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: Logger.Level = MachineSettings.defaults.logLevel

    /// The parsed values.
    var settings: MachineSettings {
        MachineSettings(
            cpus: cpus,
            memory: memory,
            serial: serial,
            serial2: serial2,
            vgaText: vgaText,
            reboot: reboot,
            pin: pin,
            irqchip: irqchip,
            msrPolicy: msrPolicy,
            msrOverrides: msrOverrides,
            cpuVendor: cpuVendor,
            cpuFeatures: cpuFeatures,
            nested: nested,
            exitOn: exitOn,
            exitOnStatus: exitOnStatus,
            firmwareConfigFiles: firmwareConfigFiles,
            debugExitPorts: debugExitPorts,
            lostTicks: lostTicks,
            testDevice: testDevice,
            biosTimer: biosTimer,
            gdb: gdb,
            gdbDefaultPort: gdbDefaultPort,
            gdbWait: gdbWait,
            trace: trace,
            timeout: timeout,
            logLevel: logLevel)
    }
}

/// Writes a line to standard error. The bytes go out from the string's own contiguous
/// storage, a `write` at a time: swift-system's generic `writeAll(_:)`, even over a raw
/// buffer, looks up a type by mangled name at first use (0.18 M instructions, half of what
/// swiftvmm runs before it opens /dev/kvm).
func printError(_ message: String) {
    var text = message
    if !text.hasSuffix("\n") { text += "\n" }
    text.withUTF8 { bytes in
        var rest = UnsafeRawBufferPointer(bytes)
        while !rest.isEmpty, let written = try? FileDescriptor.standardError.write(rest), written > 0 {
            rest = UnsafeRawBufferPointer(rebasing: rest[written...])
        }
    }
}

/// `--trace exits`, `--trace exits=FILE` or `--trace summary`.
struct TraceArgument: ExpressibleByArgument {
    var exits: ExitTraceOptions.Destination?
    var summary = false
    init?(argument: String) {
        if argument == "summary" {
            summary = true
        } else if argument == "exits" {
            exits = .standardError
        } else if argument.hasPrefix("exits="), argument.count > 6 {
            exits = .file(String(argument.dropFirst(6)))
        } else {
            return nil
        }
    }
}

/// `--gdb tcp::PORT` or `tcp:HOST:PORT`.
struct GDBDevice: ExpressibleByArgument {
    let options: GDBOptions
    init?(argument: String) {
        guard let options = GDBOptions(device: argument) else { return nil }
        self.options = options
    }
}

struct MemorySize: ExpressibleByArgument {
    let bytes: UInt64

    init(bytes: UInt64) { self.bytes = bytes }

    /// QEMU's `-m` rules (`RAMLayout.bytes(parsing:)`).
    init?(argument: String) {
        guard let bytes = RAMLayout.bytes(parsing: argument) else { return nil }
        self.bytes = bytes
    }

    var defaultValueDescription: String { bytes % (1 << 20) == 0 ? "\(bytes >> 20)M" : "\(bytes)B" }
}

enum SerialOption: ExpressibleByArgument, Equatable {
    case stdio, none, file(String)

    init?(argument: String) {
        switch argument {
        case "stdio": self = .stdio
        case "none": self = .none
        case let text where text.hasPrefix("file:") && text.count > 5: self = .file(String(text.dropFirst(5)))
        default: return nil
        }
    }

    var defaultValueDescription: String {
        switch self {
        case .stdio: "stdio"
        case .none: "none"
        case .file(let path): "file:" + path
        }
    }
}

extension SerialOption {
    /// The sink for this choice, and the file it opened (for the caller to close).
    func open() throws -> (any SerialSink, FileDescriptor?) {
        switch self {
        case .stdio: return (FileDescriptorSink(.standardOutput), nil)
        case .none: return (NullSink(), nil)
        case .file(let path):
            do {
                let fd = try FileDescriptor.open(path, .writeOnly, options: [.create, .truncate, .closeOnExec],
                                                 permissions: [.ownerReadWrite, .groupRead, .otherRead])
                return (FileDescriptorSink(fd), fd)
            } catch {
                printError("swiftvmm: \(path): cannot open for serial output: \(error)")
                throw ExitCode(ExitStatus.usage)
            }
        }
    }
}

struct PinOption: ExpressibleByArgument {
    let value: CPUPinning

    init(value: CPUPinning) { self.value = value }

    init?(argument: String) {
        switch argument {
        case "auto": value = .auto
        case "none": value = .none
        default:
            let cpus = argument.split(separator: ",").compactMap { Int($0) }
            guard !cpus.isEmpty, cpus.count == argument.split(separator: ",").count, cpus.allSatisfy({ $0 >= 0 }) else { return nil }
            value = .cpus(cpus)
        }
    }

    var defaultValueDescription: String {
        switch value {
        case .auto: "auto"
        case .none: "none"
        case .cpus(let cpus): cpus.map(String.init).joined(separator: ",")
        }
    }
}

// Options whose values are the enums' raw strings (ArgumentParser's RawRepresentable and
// CaseIterable defaults parse them and list them in the help).
extension InterruptController: ExpressibleByArgument {}
extension UnknownMSRPolicy: ExpressibleByArgument {}
extension PIT8254.LostTickPolicy: ExpressibleByArgument {}
extension CPUIDTable.Vendor: ExpressibleByArgument {}

/// `INDEX=VALUE`, each a number in decimal or 0x hex.
struct MSROverride: ExpressibleByArgument {
    let index: UInt32
    let value: UInt64

    init?(argument: String) {
        let parts = argument.split(separator: "=", maxSplits: 1).map(String.init)
        guard parts.count == 2, let index = parseNumber(parts[0]).flatMap(UInt32.init(exactly:)),
              let value = parseNumber(parts[1]) else { return nil }
        self.index = index
        self.value = value
    }
}

func parseNumber(_ text: String) -> UInt64? {
    text.lowercased().hasPrefix("0x") ? UInt64(text.dropFirst(2), radix: 16) : UInt64(text)
}

/// `+name,-name,...` (a bare name means +).
struct CPUFeatureChanges: ExpressibleByArgument {
    let changes: [String: Bool]

    init?(argument: String) {
        var changes: [String: Bool] = [:]
        for item in argument.split(separator: ",") {
            var name = Substring(item), on = true
            if name.hasPrefix("+") || name.hasPrefix("-") { on = name.first == "+"; name = name.dropFirst() }
            guard CPUIDTable.features[String(name)] != nil else { return nil }
            changes[String(name)] = on
        }
        self.changes = changes
    }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}
