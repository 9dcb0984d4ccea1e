import Logging
import SwiftVMM
import SystemPackage

/// One run of a case: build the machine (boot the case's kernel, or fork the manifest's
/// snapshot and type the case's input) with its serial port going to the case's log, wait
/// for the expected lines in order while it runs, then compare how it ended.
struct CaseRun {
    let testCase: Manifest.TestCase
    let iteration: Int
    let repeatCount: Int
    let kernelDirectory: String
    let logPath: String?
    /// What a case with input forks from (nil when the manifest has no snapshot).
    var snapshot: Result<MachineSnapshot, SnapshotUnavailable>? = nil

    /// How long an expected line may take beyond the case's time limit; by then the run
    /// has ended and `expect` reports that instead.
    static let expectMargin = Duration.seconds(5)
    static let lastLineCount = 10

    func run() async -> RunResult {
        let clock = ContinuousClock()
        let started = clock.now
        let messages = MessageLog()
        var result = RunResult(caseName: testCase.name, iteration: iteration, repeatCount: repeatCount, outcome: nil,
                               failures: [], duration: .zero, logPath: logPath, lastLines: [], messages: [],
                               forked: testCase.boot == nil)
        let log: FileDescriptor?
        do { log = try openSerialLog(logPath) } catch {
            result.failures = [.notStarted(error.problem)]
            return result
        }
        defer { try? log?.close() }

        let machine: Machine, untyped: [UInt8]
        do {
            (machine, untyped) = try makeMachine(serialOutput: log.map { FileDescriptorSink($0) } ?? NullSink(),
                                                 logger: Logger(label: "swiftvmm") { _ in messages })
        } catch {
            result.failures = [.notStarted("\(error)")]
            result.duration = clock.now - started
            log.map { appendFooter(to: $0, result) }
            return result
        }

        async let ended = machine.run()
        await machine.send(untyped)
        for (index, pattern) in testCase.expect.enumerated() {
            do {
                try await machine.expect(try Regex(pattern), within: testCase.timeout + Self.expectMargin)
            } catch {
                result.failures.append(.patternNotSeen(index: index + 1, pattern: pattern, reason: Self.reason(error)))
                break
            }
        }
        let outcome = await ended
        result.duration = clock.now - started
        result.outcome = outcome
        result.lastLines = Array(machine.serialTranscript.suffix(Self.lastLineCount))
        if case .guestFault(let report) = outcome { messages.append("\(report)") }
        result.messages = messages.all

        switch outcome {
        case _ where testCase.outcome.matches(outcome): break
        case .timedOut: result.failures.append(.timedOut(after: testCase.timeout))
        case .cancelled: result.failures.append(.cancelled)
        default: result.failures.append(.outcomeMismatch(expected: testCase.outcome, actual: outcome))
        }
        log.map { appendFooter(to: $0, result) }
        return result
    }

    /// The case's machine, and the part of its input that did not fit in COM1's buffer
    /// before the run (sent once it runs).
    private func makeMachine(serialOutput: any SerialSink, logger: Logger) throws -> (Machine, [UInt8]) {
        switch testCase.start {
        case .boot(let boot):
            let configuration = boot.configuration(kernelDirectory: kernelDirectory, serialOutput: serialOutput, timeout: testCase.timeout)
            return (try Machine(configuration, logger: logger), [])
        case .snapshot(let input):
            guard let snapshot else { throw SnapshotUnavailable(reason: "the manifest has no snapshot") }
            let image = try snapshot.get()
            var configuration = image.configuration
            configuration.serialOutput = serialOutput
            configuration.timeout = testCase.timeout
            let machine = try Machine(restoring: image, configuration: configuration, logger: logger)
            let line = Array(input.utf8) + [UInt8(ascii: "\n")]
            return (machine, Array(line.dropFirst(machine.type(line))))
        }
    }

    static func reason(_ error: any Error) -> String {
        switch error as? ExpectError {
        case .timedOut(let limit, _): "no such line within \(seconds(limit))"
        case .machineEnded(let outcome, _): "the run ended first (\(outcome.map { "\($0)" } ?? "no outcome"))"
        case .cancelled: "cancelled"
        case nil: "\(error)"
        }
    }

    /// Ends the serial log with how the run went, after whatever the guest printed.
    private func appendFooter(to log: FileDescriptor, _ result: RunResult) {
        var text = "\n--- swiftvmm: \(result.outcome.map { "\($0)" } ?? "not started"), \(seconds(result.duration))"
        text += result.passed ? ": PASS\n" : ": FAIL\n" + result.failures.map { "--- \($0)\n" }.joined()
        text += result.messages.map { "--- \($0)\n" }.joined()
        _ = try? log.writeAll(text.utf8)
    }
}

extension Manifest.Boot {
    /// The machine that boots this kernel, its serial output going to `serialOutput`.
    func configuration(kernelDirectory: String, serialOutput: any SerialSink, timeout: Duration) -> Machine.Configuration {
        Machine.Configuration(
            kernel: .file(resolve(kernel, in: kernelDirectory)), commandLine: commandLine,
            modules: modules.map { argument in
                let module = BootModule(argument: argument)
                return BootModule(path: resolve(module.path, in: kernelDirectory), string: module.string)
            },
            cpus: cpus, memorySize: memorySize, serialOutput: serialOutput, timeout: timeout,
            interruptController: interruptController)
    }

    /// The files this boot reads: its kernel and module paths, as written in the manifest.
    var files: [(what: String, path: String)] {
        [("kernel", kernel)] + modules.map { ("module", String($0.prefix { $0 != "=" })) }
    }
}

/// A serial log that cannot be written, and why.
struct SerialLogError: Error {
    let problem: String
}

/// The serial log at `path` (created or emptied), or nil when there is no path.
func openSerialLog(_ path: String?) throws(SerialLogError) -> FileDescriptor? {
    do {
        return try path.map {
            try FileDescriptor.open($0, .writeOnly, options: [.create, .truncate, .closeOnExec],
                                    permissions: [.ownerReadWrite, .groupRead, .otherRead])
        }
    } catch {
        throw SerialLogError(problem: "cannot write the serial log \(path ?? ""): \(error)")
    }
}

/// A path from the manifest, relative to the kernel directory unless absolute.
func resolve(_ path: String, in kernelDirectory: String) -> String {
    path.hasPrefix("/") ? path : kernelDirectory + "/" + path
}

/// Keeps what SwiftVMM logs about one machine, for the report and the log's footer.
final class MessageLog: LogHandler, Sendable {
    private let messages = AnnotatedMutex<[String]>([])

    func append(_ message: String) { messages.withLock { $0.append(message) } }
    var all: [String] { messages.withLock { $0 } }

    func log(event: LogEvent) {
        append("\(event.level): \(event.message)")
    }

    var logLevel: Logger.Level {
        get { .warning }
        set {}
    }
    var metadata: Logger.Metadata {
        get { [:] }
        set {}
    }
    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { nil }
        set {}
    }
}
