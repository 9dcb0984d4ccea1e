import SystemPackage
#if canImport(Glibc)
import Glibc
#endif
import SwiftVMMDevices

/// Feeds bytes from a file descriptor (stdin) to a UART on a thread of its own, and stops
/// promptly when told to: it polls the input and a pipe that `stop()` writes.
final class SerialInputPump: @unchecked Sendable {
    private let input: FileDescriptor
    private let uart: Serial16550
    private let stopPipe: (readEnd: FileDescriptor, writeEnd: FileDescriptor)
    private var thread: HostThread?

    init(input: FileDescriptor, uart: Serial16550) throws(HostError) {
        self.input = input
        self.uart = uart
        do { stopPipe = try FileDescriptor.pipe() } catch { throw .io("pipe", (error as? Errno) ?? .ioError) }
        do {
            thread = try HostThread(name: "serial-input") { [self] in pump() }
        } catch {
            try? stopPipe.readEnd.close()
            try? stopPipe.writeEnd.close()
            throw error
        }
    }

    deinit {
        try? stopPipe.readEnd.close()
        try? stopPipe.writeEnd.close()
    }

    func stop() {
        // Not `writeAll`: its first use makes the runtime scan every conformance record
        // (about 0.19 M instructions, at the end of every run with serial input).
        let wake: UInt8 = 1
        // SAFETY: `wake` is a local byte that write(2) only reads, during the call.
        _ = withUnsafeBytes(of: wake) { try? stopPipe.writeEnd.write($0) }
        thread?.join()
        thread = nil
    }

    private func pump() {
        var buffer = [UInt8](repeating: 0, count: 256)
        var pending: ArraySlice<UInt8> = []
        while true {
            // While the UART is full, retry every 10 ms instead of reading more.
            var fds = [pollfd(fd: stopPipe.readEnd.rawValue, events: Int16(POLLIN), revents: 0),
                       pollfd(fd: input.rawValue, events: pending.isEmpty ? Int16(POLLIN) : 0, revents: 0)]
            let ready = poll(&fds, 2, pending.isEmpty ? -1 : 10)
            if ready < 0 && errno != EINTR { return }
            if fds[0].revents != 0 { return }
            if pending.isEmpty && fds[1].revents != 0 {
                // SAFETY: `buffer` is this thread's local 256-byte array; read(2) writes at most its count,
                // and the pointer does not escape the closure.
                let count = buffer.withUnsafeMutableBytes { read(input.rawValue, $0.baseAddress, $0.count) }
                if count <= 0 { return }
                pending = buffer[0..<count]
            }
            pending = pending.dropFirst(uart.receive(pending))
        }
    }
}
