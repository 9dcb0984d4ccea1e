import Foundation
import SwiftVMM
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Turns SIGINT and SIGTERM into a call of `cancel` (for `swiftvmm test`: cancelling the
/// runner stops its machines through the normal path, so logs and the report are
/// complete). The signal handler only writes the signal number to a pipe, which is
/// async-signal-safe; a thread of its own reads it and cancels.
final class CancelOnSignal: Sendable {
    private static let signals = [SIGINT, SIGTERM]
    private let pipeFDs: (read: Int32, write: Int32)
    private let receivedSignal = AnnotatedMutex<Int32?>(nil)
    private let done = DispatchSemaphore(value: 0)

    init(cancel: @escaping @Sendable () -> Void) {
        var fds: [Int32] = [-1, -1]
        pipe(&fds)
        for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        pipeFDs = (fds[0], fds[1])
        signalPipe.store(fds[1], ordering: .releasing)
        for signal in Self.signals {
            Glibc.signal(signal) { number in
                var byte = UInt8(truncatingIfNeeded: number)
                _ = Glibc.write(signalPipe.load(ordering: .acquiring), &byte, 1)
            }
        }
        let readEnd = pipeFDs.read
        Thread.detachNewThread { [self] in
            defer { done.signal() }
            var byte: UInt8 = 0
            while true {
                let count = Glibc.read(readEnd, &byte, 1)
                if count < 0, errno == EINTR { continue }
                // 0 (from `stop`) or end of file: nothing was received.
                guard count == 1, byte != 0 else { return }
                receivedSignal.withLock { $0 = Int32(byte) }
                cancel()
                return
            }
        }
    }

    /// The signal that interrupted the run, if one did.
    var received: Int32? { receivedSignal.withLock { $0 } }

    /// Restores the default actions and ends the reading thread.
    func stop() {
        for signal in Self.signals { Glibc.signal(signal, SIG_DFL) }
        var zero: UInt8 = 0
        _ = Glibc.write(pipeFDs.write, &zero, 1)
        done.wait()
        signalPipe.store(-1, ordering: .releasing)
        close(pipeFDs.read)
        close(pipeFDs.write)
    }
}

/// The pipe the signal handler writes to (a C function pointer cannot capture it).
private let signalPipe = Atomic<Int32>(-1)
