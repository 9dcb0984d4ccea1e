import SystemPackage
#if canImport(Glibc)
import Glibc
#endif
import CHostThread

/// Signals (SIGINT and SIGTERM by default) that end a run through its normal path (threads
/// joined, terminal restored, status 130 or 143): pass it to `MachineSession.run(stoppingOn:)`
/// or `Machine.run(stoppingOn:)`, whose own wait for the outcome also waits for these.
///
/// Create it before the machine's threads start: it blocks the signals in the calling
/// thread, so every thread started after inherits the block and none is interrupted by
/// them, and reads them from a signalfd (signalfd(2)) instead. They stay blocked after the
/// run: one that arrives while the process tears down is not lost to the default action.
/// No thread of its own: on this nested host each thread started costs a boot about half a
/// millisecond (BENCHMARKS.md section 1).
public final class SignalStop: Sendable {
    let descriptor: FileDescriptor

    public init(_ signals: [Int32] = [SIGINT, SIGTERM]) throws(HostError) {
        var set = sigset_t()
        sigemptyset(&set)
        for signal in signals { sigaddset(&set, signal) }
        pthread_sigmask(SIG_BLOCK, &set, nil)
        let fd = chost_signalfd(&set)
        guard fd >= 0 else { throw .io("signalfd", Errno(rawValue: errno)) }
        descriptor = FileDescriptor(rawValue: fd)
    }

    deinit { try? descriptor.close() }

    /// The next of the signals that arrived, or nil when none is waiting.
    func take() -> Int32? {
        var info = [UInt8](repeating: 0, count: Int(chost_signalfd_info_size()))
        // SAFETY: `info` is a local array of one signalfd_siginfo's size; read(2) writes at most its
        // count, and the pointer does not escape the closure.
        let count = info.withUnsafeMutableBytes { read(descriptor.rawValue, $0.baseAddress, $0.count) }
        // ssi_signo is the record's first field, a host-endian uint32.
        return count == info.count ? Int32(info.withUnsafeBytes { $0.loadUnaligned(as: UInt32.self) }) : nil
    }
}
