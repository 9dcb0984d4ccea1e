import SystemPackage
#if canImport(Glibc)
import Glibc
#endif
import CHostThread
import Synchronization

/// Signals (SIGINT and SIGTERM by default) that end a run through its normal path (threads
/// joined, terminal restored, status 130 or 143): pass it to `MachineSession.run(stoppingOn:)`
/// or `Machine.run(stoppingOn:)`, whose own wait for the outcome also waits for these.
///
/// Create it before the machine's threads start: it blocks the signals in the calling
/// thread, so every thread started after inherits the block and none is interrupted by
/// them, and reads them from a signalfd (signalfd(2)) instead. They stay blocked after the
/// run: one that arrives while the process tears down is not lost to the default action.
/// It needs no thread of its own (the run's wait polls its descriptor), and no signal to
/// end one.
public final class SignalStop: Sendable {
    let descriptor: FileDescriptor
    /// The first signal taken, 0 before: a signal that arrives as the guest resets must still
    /// stop a session that would boot again (the reset may have ended the run first).
    private let first = Atomic<Int32>(0)

    public init(_ signals: [Int32] = [SIGINT, SIGTERM]) throws(HostError) {
        var set = sigset_t()
        sigemptyset(&set)
        for signal in signals { sigaddset(&set, signal) }
        var before = sigset_t()
        pthread_sigmask(SIG_BLOCK, &set, &before)
        let fd = chost_signalfd(&set)
        guard fd >= 0 else {
            let error = Errno(rawValue: errno)
            pthread_sigmask(SIG_SETMASK, &before, nil)   // nothing would read them
            throw .io("signalfd", error)
        }
        descriptor = FileDescriptor(rawValue: fd)
    }

    deinit { try? descriptor.close() }

    /// The first of the signals taken so far, or one waiting now; nil when none arrived.
    var received: Int32? {
        let first = first.load(ordering: .acquiring)
        return first != 0 ? first : take()
    }

    /// The next of the signals that arrived, or nil when none is waiting.
    func take() -> Int32? {
        var info = [UInt8](repeating: 0, count: Int(chost_signalfd_info_size()))
        // SAFETY: `info` is a local array of one signalfd_siginfo's size; read(2) writes at most its
        // count, and the pointer does not escape the closure.
        let count = info.withUnsafeMutableBytes { read(descriptor.rawValue, $0.baseAddress, $0.count) }
        guard count == info.count else { return nil }
        // SAFETY: `info` holds a whole record, whose first field is ssi_signo, a host-endian uint32;
        // the pointer does not escape the closure.
        let signal = Int32(info.withUnsafeBytes { $0.loadUnaligned(as: UInt32.self) })
        _ = first.compareExchange(expected: 0, desired: signal, ordering: .acquiringAndReleasing)
        return signal
    }
}
