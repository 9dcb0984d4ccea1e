import Logging
import SwiftVMM
import SystemPackage

/// One boot of a case: build the machine with its serial port going to the case's log,
/// wait for the expected lines in order while it runs, then compare how it ended.
struct CaseRun {
    let testCase: Manifest.TestCase
    let iteration: Int
    let repeatCount: Int
    let kernelDirectory: String
    let logPath: String?

    /// How long an expected line may take beyond the case's time limit; by then the run
    /// has ended and `expect` reports that instead.
    static let expectMargin = Duration.seconds(5)
    static let lastLineCount = 10

    func run() async -> RunResult {
        let clock = ContinuousClock()
        let started = clock.now
        let messages = MessageLog()
        var result = RunResult(caseName: testCase.name, iteration: iteration, repeatCount: repeatCount, outcome: nil,
                               failures: [], duration: .zero, logPath: logPath, lastLines: [], messages: [])
        let log: FileDescriptor?
        do {
            log = try logPath.map {
                try FileDescriptor.open($0, .writeOnly, options: [.create, .truncate, .closeOnExec],
                                        permissions: [.ownerReadWrite, .groupRead, .otherRead])
            }
        } catch {
            result.failures = [.notStarted("cannot write the serial log \(logPath ?? ""): \(error)")]
            return result
        }
        defer { try? log?.close() }

        let machine: Machine
        do {
            machine = try Machine(configuration(serialOutput: log.map { FileDescriptorSink($0) } ?? NullSink()),
                                  logger: Logger(label: "swiftvmm") { _ in messages })
        } catch {
            result.failures = [.notStarted("\(error)")]
            result.duration = clock.now - started
            log.map { appendFooter(to: $0, result) }
            return result
        }

        async let ended = machine.run()
        for (index, pattern) in testCase.expect.enumerated() {
            do {
                try await machine.expect(try Regex(pattern), within: testCase.timeout + Self.expectMargin)
            } catch {
                result.failures.append(.patternNotSeen(index: index + 1, pattern: pattern, reason: reason(error)))
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

    private func configuration(serialOutput: any SerialSink) -> Machine.Configuration {
        Machine.Configuration(
            kernel: .file(resolve(testCase.kernel)), commandLine: testCase.commandLine,
            modules: testCase.modules.map { argument in
                let module = BootModule(argument: argument)
                return BootModule(path: resolve(module.path), string: module.string)
            },
            cpus: testCase.cpus, memorySize: testCase.memorySize, serialOutput: serialOutput,
            timeout: testCase.timeout, interruptController: testCase.interruptController)
    }

    /// A path from the manifest, relative to the kernel directory unless absolute.
    func resolve(_ path: String) -> String {
        path.hasPrefix("/") ? path : kernelDirectory + "/" + path
    }

    private func reason(_ error: any Error) -> String {
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
