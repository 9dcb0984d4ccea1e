#if canImport(Glibc)
import Glibc
#endif

/// Stops a machine session when the process receives SIGINT or SIGTERM, so the run ends through
/// the normal path (threads joined, terminal restored, status 130 or 143).
///
/// Create it before the machine's threads start: it blocks the signals in the calling
/// thread (new threads inherit that) and waits for them with `sigwait` on a thread of its
/// own. `cancel()` ends that thread with SIGUSR2 sent to it alone.
public final class SignalStop: @unchecked Sendable {
    private var thread: HostThread?
    private static let cancelSignal = SIGUSR2

    public init(stopping session: MachineSession, on signals: [Int32] = [SIGINT, SIGTERM]) throws(HostError) {
        var set = sigset_t()
        sigemptyset(&set)
        for signal in signals + [Self.cancelSignal] { sigaddset(&set, signal) }
        pthread_sigmask(SIG_BLOCK, &set, nil)
        let waitSet = set
        thread = try HostThread(name: "signals") {
            var set = waitSet
            var received: Int32 = 0
            while sigwait(&set, &received) == 0 {
                if received == Self.cancelSignal { return }
                session.stop(signal: received)
            }
        }
    }

    deinit { cancel() }

    /// Ends the watching thread and waits for it.
    public func cancel() {
        guard let thread else { return }
        pthread_kill(thread.id, Self.cancelSignal)
        thread.join()
        self.thread = nil
    }
}
