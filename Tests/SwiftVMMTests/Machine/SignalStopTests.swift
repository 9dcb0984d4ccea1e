import Testing
import TestGuests
#if canImport(Glibc)
import Glibc
#endif
@testable import SwiftVMM

/// `SignalStop`: stop signals read from a signalfd by the run's own wait, with no thread of
/// their own. SIGWINCH stands in for SIGINT: blocking it in a test thread changes nothing
/// for the rest of the test process (its default action is to be ignored).
@Suite(.serialized)
struct SignalStopTests {
    @Test func keepsTheFirstSignalItTakes() throws {
        let stop = try SignalStop([SIGWINCH])
        #expect(stop.received == nil)
        pthread_kill(pthread_self(), SIGWINCH)
        #expect(stop.received == SIGWINCH)
        #expect(stop.received == SIGWINCH, "still known after it was read")
    }

    /// Sends `signal` to `thread` when the guest has printed a whole line.
    final class SignalOnFirstLine: SerialSink {
        let thread: pthread_t, signal: Int32
        init(_ thread: pthread_t, _ signal: Int32) { (self.thread, self.signal) = (thread, signal) }
        func write(_ byte: UInt8) { if byte == UInt8(ascii: "\n") { pthread_kill(thread, signal) } }
    }

    @Test(.enabled(if: KVMHost.available, "\(KVMHost.unavailableReason ?? "")"))
    func aSignalToTheRunningThreadEndsTheRun() throws {
        let stop = try SignalStop([SIGWINCH])
        let machine = try Machine(Machine.Configuration(
            kernel: .image(name: "spin", bytes: spinGuest),
            serialOutput: SignalOnFirstLine(pthread_self(), SIGWINCH), timeout: .seconds(60)))
        #expect(machine.run(stoppingOn: stop) == .stopped(signal: SIGWINCH))
    }

    @Test(.enabled(if: KVMHost.available, "\(KVMHost.unavailableReason ?? "")"))
    func aSignalThatCameBeforeTheRunEndsItAtOnce() throws {
        let stop = try SignalStop([SIGWINCH])
        pthread_kill(pthread_self(), SIGWINCH)
        let machine = try Machine(Machine.Configuration(kernel: .image(name: "spin", bytes: spinGuest),
                                                        serialOutput: NullSink(), timeout: .seconds(60)))
        #expect(machine.run(stoppingOn: stop) == .stopped(signal: SIGWINCH))
    }
}
