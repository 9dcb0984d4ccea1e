import ArgumentParser
import Logging
import SystemPackage
import SwiftVMM

/// `swiftvmm restore DIR`: continue a snapshot `boot --save DIR` wrote,
/// with the same output and exit-status contract as `boot`.
struct Restore: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "restore",
        abstract: "Continue a machine from a snapshot that boot --save wrote.",
        discussion: """
            The machine is built as it was (CPUs, RAM, irqchip, devices), its RAM maps the \
            snapshot's copy-on-write, and every vCPU continues where it stopped. A snapshot \
            taken on a host with another CPU vendor, CPUID or TSC rate, a corrupt one, or one \
            of another format version is refused with status 2. Where the host cannot set the \
            guest's TSC back (kvm_pvm), the time since the snapshot passes for every clock of \
            the machine alike, and timers armed before it keep the time they had left.

            """ + ExitStatus.table
    )

    @Argument(help: "The snapshot directory.")
    var directory: String

    @Option(help: ArgumentHelp("Type STRING and a newline into COM1 first (standard input follows).", valueName: "STRING"))
    var input: String?

    @Option(help: "Where COM1 goes: stdio, file:PATH or none.")
    var serial: SerialOption = MachineSettings.defaults.serial

    @Option(help: "Pin vCPU threads: auto, none, or a host CPU list (as boot's --pin).")
    var pin: PinOption = MachineSettings.defaults.pin

    @Option(name: .customLong("exit-on"), help: ArgumentHelp("End the run after a line of serial output matching REGEX (repeatable).", valueName: "REGEX"))
    var exitOn: [String] = []

    @Option(help: "The exit status when --exit-on matches.")
    var exitOnStatus: Int32 = 0

    @Option(help: "Stop the guest after this many seconds (exit status 124).")
    var timeout: Double?

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: Logger.Level = MachineSettings.defaults.logLevel

    /// What the command line asked for (`RestoreFastPath` builds the same without this
    /// type's reflection).
    var request: RestoreRequest {
        var request = RestoreRequest(directory: directory, input: input)
        (request.machine.serial, request.machine.pin, request.machine.exitOn) = (serial, pin, exitOn)
        (request.machine.exitOnStatus, request.machine.timeout, request.machine.logLevel) = (exitOnStatus, timeout, logLevel)
        return request
    }

    mutating func run() throws {
        try request.run()
    }
}

/// `restore`'s arguments as plain values.
struct RestoreRequest {
    var directory: String
    var input: String?
    /// Only the settings `restore` has options for are used.
    var machine = MachineSettings()

    func run() throws {
        try machine.restore(from: directory, input: input)
    }
}

/// `swiftvmm restore DIR --name VALUE ...` without ArgumentParser's reflection (`FastPath`):
/// the command a harness runs for every case it continues from a snapshot.
enum RestoreFastPath {
    static func parse(_ arguments: [String]) -> RestoreRequest? {
        FastPath(command: "restore", initial: RestoreRequest(directory: ""), storePositional: { $0.directory = $1 }, options: options).parse(arguments)
    }

    /// Every long name of `restore`.
    static let options: [FastPath<RestoreRequest>.Option] = [
        .value("input", String.self) { $0.input = $1 },
        .value("serial", SerialOption.self) { $0.machine.serial = $1 },
        .value("pin", PinOption.self) { $0.machine.pin = $1 },
        .value("exit-on", String.self, .repeating) { $0.machine.exitOn.append($1) },
        .value("exit-on-status", Int32.self) { $0.machine.exitOnStatus = $1 },
        .value("timeout", Double.self) { $0.machine.timeout = $1 },
        .value("log-level", Logger.Level.self) { $0.machine.logLevel = $1 },
    ]
}

extension MachineSettings {
    /// Loads the snapshot in `directory`, builds its machine with these settings' serial
    /// output, input, pinning, time limit and `--exit-on`, types `input`, and runs it.
    func restore(from directory: String, input: String?) throws {
        bootstrapLogging()
        if let timeout, !(timeout > 0) { throw ValidationError("--timeout must be a positive number of seconds") }
        let signals = try stopSignals()
        let (output, outputFile) = try serial.open()
        defer { try? outputFile?.close() }
        let machine: Machine
        do throws(MachineError) {
            machine = try Machine(restoringFrom: FilePath(directory), serialOutput: output) { configuration in
                configuration.serialInput = serial == .stdio ? .standardInput : nil
                configuration.pinning = pin.value
                configuration.timeout = timeout.map { .nanoseconds(Int64($0 * 1e9)) }
                (configuration.exitOn, configuration.exitOnStatus) = (exitOn, exitOnStatus)
            }
        } catch {
            printError("swiftvmm: \(error)")
            throw ExitCode(error.exitStatus)
        }
        if let input { machine.type(Array(input.utf8) + [UInt8(ascii: "\n")]) }
        throw ExitCode(run(MachineSession(machine), stoppingOn: signals).exitStatus)
    }
}
