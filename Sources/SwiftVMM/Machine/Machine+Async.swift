import SwiftVMMSupport

/// The asynchronous face of a machine, for test harnesses: run it in a task, watch and
/// answer its serial port, cancel it. The vCPUs stay on their own pthreads; `run()` waits
/// for them on one more host thread, so the cooperative pool is never blocked.
///
///     let machine = try Machine(.init(kernel: .file("kernel.elf"), cpus: 4, serialOutput: NullSink()))
///     async let outcome = machine.run()
///     try await machine.expect(/all \d+ CPUs up/, within: .seconds(5))
///     #expect(await outcome == .poweredOff)
extension Machine {
    /// Runs the guest until it ends; cancelling the task stops it (`.cancelled`).
    public func run() async -> Outcome {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Outcome, Never>) in
                // The thread lets go of the machine before resuming the caller, so the
                // machine is freed (its fds closed) when the caller drops it, not a moment
                // later on this thread.
                let handOff = AnnotatedMutex<Machine?>(self)
                do {
                    // Detached: the thread ends right after resuming the continuation.
                    try HostThread.detached(name: "machine") {
                        let outcome = { handOff.withLock { $0.take() }!.run() }()
                        continuation.resume(returning: outcome)
                    }
                } catch {
                    continuation.resume(returning: .hostError("\(error)"))
                }
            }
        } onCancel: {
            control.finish(.cancelled)
        }
    }

    /// Waits for a complete line of serial output that contains a match for `pattern`,
    /// among the lines after the previous `expect`'s match (from the start for the first),
    /// and returns it.
    @discardableResult
    public func expect<Output>(_ pattern: Regex<Output>, within limit: Duration) async throws(ExpectError) -> String {
        let (lines, subscription) = serialMonitor.lines(from: expectCursor.withLock { $0 })
        let timer = Task {
            try? await Task.sleep(for: limit)
            subscription.finish()
        }
        defer { timer.cancel() }
        for await (index, line) in lines where line.contains(pattern) {
            expectCursor.withLock { $0 = index + 1 }
            return line
        }
        let seen = lastLinesForError
        if Task.isCancelled { throw .cancelled }
        if serialMonitor.isClosed { throw .machineEnded(outcome: control.outcome?.outcome, lastLines: seen) }
        throw .timedOut(after: limit, lastLines: seen)
    }

    /// The serial lines an `ExpectError` shows: the last 20.
    var lastLinesForError: [String] { Array(serialMonitor.lines.suffix(20)) }

    /// Every byte COM1 transmits from now until the run ends.
    public var serialBytes: AsyncStream<UInt8> { serialMonitor.bytes() }

    /// Every complete line (without its line ending) COM1 transmits from now until the run ends.
    public var serialLines: AsyncMapSequence<AsyncStream<(index: Int, line: String)>, String> {
        serialMonitor.lines().stream.map(\.line)
    }

    /// The complete lines of serial output so far (the last 10 000).
    public var serialTranscript: [String] { serialMonitor.lines }

    /// Types `bytes` into COM1, waiting while `Serial16550.lineCapacity` bytes already wait for the guest.
    public func send(_ bytes: some Collection<UInt8>) async {
        var pending = Array(bytes)[...]
        while !pending.isEmpty, !control.isStopping, !Task.isCancelled {
            pending = pending.dropFirst(uart.receive(pending))
            if !pending.isEmpty { try? await Task.sleep(for: .milliseconds(1)) }
        }
    }

    public func send(_ text: String) async { await send(Array(text.utf8)) }

    /// Types `bytes` into COM1 before the run (`swiftvmm restore --input`); returns how many
    /// fitted (`Serial16550.lineCapacity` at most wait for the guest).
    @discardableResult
    public func type(_ bytes: [UInt8]) -> Int { uart.receive(bytes) }
}

/// Why `Machine.expect` returned without a match.
public enum ExpectError: Error, CustomStringConvertible {
    case timedOut(after: Duration, lastLines: [String])
    /// The run ended (with `outcome`) before a line matched.
    case machineEnded(outcome: Outcome?, lastLines: [String])
    case cancelled

    public var description: String {
        switch self {
        case .timedOut(let limit, let lines): "no matching line within \(limit); last lines:\n" + lines.joined(separator: "\n")
        case .machineEnded(let outcome, let lines):
            "the machine stopped (\(outcome.map { "\($0)" } ?? "no outcome")) before a matching line; last lines:\n" + lines.joined(separator: "\n")
        case .cancelled: "cancelled"
        }
    }
}
