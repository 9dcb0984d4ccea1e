import ArgumentParser
import Logging
import SwiftVMM

/// Everything `MachineOptions` sets, as plain values with their defaults: what runs a
/// machine once the command line is parsed, by ArgumentParser or by `BootFastPath`.
struct MachineSettings {
    /// The defaults `--help` shows.
    static let defaults = MachineSettings()

    var cpus: Int = 1
    var memory: MemorySize = MemorySize(bytes: 256 << 20)
    var serial: SerialOption = .stdio
    var serial2: SerialOption = .none
    var vgaText: Bool = false
    var reboot: Bool = false
    var pin: PinOption = PinOption(value: .auto)
    var irqchip: InterruptController = .userspace
    var msrPolicy: UnknownMSRPolicy = .log
    var msrOverrides: [MSROverride] = []
    var cpuVendor: CPUIDTable.Vendor = .host
    var cpuFeatures: CPUFeatureChanges?
    var nested: Bool?
    var exitOn: [String] = []
    var exitOnStatus: Int32 = 0
    var firmwareConfigFiles: [FirmwareConfigOption] = []
    var debugExitPorts: [DebugExitOption] = []
    var lostTicks: PIT8254.LostTickPolicy = .delay
    var testDevice: Bool = false
    var biosTimer: Bool = false
    var gdb: GDBDevice?
    var gdbDefaultPort: Bool = false
    var gdbWait: Bool = false
    var trace: [TraceArgument] = []
    var timeout: Double?
    var logLevel: Logger.Level = .warning

    /// Builds and runs the machine, then exits with the outcome's status (or 0 when it
    /// is `success`).
    /// `snapshot`: take one where the guest asks or prints a line, and save it (`--save`, `--snapshot-on`).
    func boot(kernel: Machine.Configuration.Kernel, bootProtocol: BootProtocol?, commandLine: String,
              modules: [BootModule], success: Outcome? = nil, snapshot: SnapshotRequest? = nil) throws {
        bootstrapLogging()
        if let timeout, !(timeout > 0) { throw ValidationError("--timeout must be a positive number of seconds") }
        if let snapshot { try snapshot.validate(self) }
        let signals = try stopSignals()

        let (output, outputFile) = try serial.open()
        defer { try? outputFile?.close() }
        let (output2, outputFile2) = try serial2.open()
        defer { try? outputFile2?.close() }

        var configuration = Machine.Configuration(
            kernel: kernel, bootProtocol: bootProtocol, commandLine: commandLine, modules: modules,
            cpus: cpus, memorySize: memory.bytes, serialOutput: output,
            serialInput: serial == .stdio ? .standardInput : nil, pinning: pin.value,
            timeout: timeout.map { .nanoseconds(Int64($0 * 1e9)) }, interruptController: irqchip,
            msrPolicy: msrPolicy,
            msrOverrides: Dictionary(msrOverrides.map { ($0.index, $0.value) }, uniquingKeysWith: { $1 }),
            cpuVendor: cpuVendor, cpuFeatures: cpuFeatures?.changes ?? [:], nested: nested,
            exitOn: exitOn, exitOnStatus: exitOnStatus,
            serial2Output: serial2 == .none ? nil : output2, vgaTextOutput: vgaText ? output : nil,
            rebootOnReset: reboot)
        let gdb = self.gdb ?? (gdbDefaultPort ? GDBDevice(argument: "tcp::1234") : nil)
        if gdbWait && gdb == nil { throw ValidationError("--gdb-wait needs --gdb") }
        configuration.gdb = gdb.map { GDBOptions(host: $0.options.host, port: $0.options.port, waitForDebugger: gdbWait) }
        if !trace.isEmpty {
            configuration.trace = ExitTraceOptions(exits: trace.compactMap(\.exits).last, summary: trace.contains { $0.summary })
        }
        do {
            configuration.firmwareConfigFiles = try firmwareConfigFiles.map { try $0.file() }
        } catch {
            printError("swiftvmm: \(error)")
            throw ExitCode(ExitStatus.usage)
        }
        configuration.debugExitPorts = debugExitPorts.map(\.ports)
        configuration.testDevice = testDevice
        configuration.biosTimer = biosTimer
        configuration.lostTicks = lostTicks
        configuration.snapshotOnPortWrite = snapshot.map { $0.pattern == nil } ?? false
        let session: MachineSession
        do {
            session = try MachineSession(configuration)
        } catch {
            printError("swiftvmm: \(error)")
            throw ExitCode(error.exitStatus)
        }
        if let port = session.gdbPort, let host = configuration.gdb?.host {
            printError("swiftvmm: gdb stub listening on \(host):\(port)\(gdbWait ? ", the guest waits for gdb to continue" : "")")
        }
        let watcher = snapshot.map { SnapshotWatcher($0, session: session) }
        let outcome = run(session, stoppingOn: signals, quietStop: watcher != nil)
        if let watcher { throw ExitCode(watcher.finish(outcome)) }
        if let success, outcome == success { throw ExitCode.success }
        throw ExitCode(outcome.exitStatus)
    }

    /// Log messages go to standard error from `logLevel` up.
    func bootstrapLogging() {
        let level = logLevel
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
    }

    /// SIGINT and SIGTERM, blocked from here on in this thread and in every thread started
    /// after, and read by the run's own wait (`SignalStop`). Taken before the machine is
    /// built: a thread started earlier (a snapshot watcher's task, a restore's decoding
    /// thread) could otherwise receive one and die of it.
    func stopSignals() throws -> SignalStop {
        do { return try SignalStop() } catch {
            printError("swiftvmm: \(error)")
            throw ExitCode(ExitStatus.hostError)
        }
    }

    /// Runs `session` to its end with the terminal in raw mode (serial on standard input and
    /// output) and `signals` stopping it; prints what the outcome says beyond its status
    /// (`quietStop`: not a stop without a signal, which `--save` makes).
    func run(_ session: MachineSession, stoppingOn signals: SignalStop, quietStop: Bool = false) -> Outcome {
        let terminal = serial == .stdio ? TerminalMode.rawInput() : nil
        let outcome = session.run(stoppingOn: signals)
        terminal?.restore()
        if let summary = session.traceSummary { printError(summary) }

        switch outcome {
        case .guestFault(let report): printError("swiftvmm: \(report)")
        case .debugExit, .poweredOff, .outputMatched: break
        case .stopped(signal: 0) where quietStop: break
        default: printError("swiftvmm: \(outcome)")
        }
        return outcome
    }
}
