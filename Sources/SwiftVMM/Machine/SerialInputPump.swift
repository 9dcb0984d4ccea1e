import SystemPackage
#if canImport(Glibc)
import Glibc
#endif
import SwiftVMMDevices

/// Feeds bytes from a file descriptor (stdin) to a UART on a thread of its own, and stops
/// promptly when told to: it polls the input and a pipe that `stop()` writes.
///
/// Input that is already at its end when the pump starts (stdin from /dev/null, as test
/// harnesses give it) has nothing to feed: then there is no thread and no pipe.
final class SerialInputPump: @unchecked Sendable {
    private let input: FileDescriptor
    private let uart: Serial16550
    private var stopPipe: (readEnd: FileDescriptor, writeEnd: FileDescriptor)?
    private var thread: HostThread?

    init(input: FileDescriptor, uart: Serial16550) throws(HostError) {
        self.input = input
        self.uart = uart
        var first = [UInt8](repeating: 0, count: Self.chunk)
        let count = Self.readIfReady(input, into: &first)
        if count == 0 { return }
        let pipe: (readEnd: FileDescriptor, writeEnd: FileDescriptor)
        do { pipe = try FileDescriptor.pipe() } catch { throw .io("pipe", (error as? Errno) ?? .ioError) }
        stopPipe = pipe
        let pending = first[0..<max(count, 0)]
        do {
            thread = try HostThread(name: "serial-input") { [self] in pump(pending, stop: pipe.readEnd) }
        } catch {
            closePipe()
            throw error
        }
    }

    deinit { closePipe() }

    func stop() {
        guard let stopPipe else { return }
        // Not `writeAll`: its first use makes the runtime scan every conformance record
        // (about 0.19 M instructions, at the end of every run with serial input).
        let wake: UInt8 = 1
        // SAFETY: `wake` is a local byte that write(2) only reads, during the call.
        _ = withUnsafeBytes(of: wake) { try? stopPipe.writeEnd.write($0) }
        thread?.join()
        thread = nil
    }

    private static let chunk = 256

    /// Reads what `input` has now, without waiting: the byte count, 0 at its end, -1 when
    /// nothing is there yet (or the read failed, which the pump's own read will see again).
    private static func readIfReady(_ input: FileDescriptor, into buffer: inout [UInt8]) -> Int {
        var ready = pollfd(fd: input.rawValue, events: Int16(POLLIN), revents: 0)
        guard poll(&ready, 1, 0) == 1 else { return -1 }
        return read(input, into: &buffer)
    }

    /// read(2) of at most `buffer.count` bytes into `buffer`: the count, 0 at the end, -1 on
    /// an error.
    private static func read(_ input: FileDescriptor, into buffer: inout [UInt8]) -> Int {
        // SAFETY: `buffer` is the caller's array; read(2) writes at most its count, and the pointer
        // does not escape the closure.
        let count = buffer.withUnsafeMutableBytes { Glibc.read(input.rawValue, $0.baseAddress, $0.count) }
        return count < 0 ? -1 : count
    }

    private func closePipe() {
        try? stopPipe?.readEnd.close()
        try? stopPipe?.writeEnd.close()
        stopPipe = nil
    }

    private func pump(_ first: ArraySlice<UInt8>, stop: FileDescriptor) {
        var buffer = [UInt8](repeating: 0, count: Self.chunk)
        var pending = first
        while true {
            pending = pending.dropFirst(uart.receive(pending))
            // While the UART is full, retry every 10 ms instead of reading more.
            var fds = [pollfd(fd: stop.rawValue, events: Int16(POLLIN), revents: 0),
                       pollfd(fd: input.rawValue, events: pending.isEmpty ? Int16(POLLIN) : 0, revents: 0)]
            let ready = poll(&fds, 2, pending.isEmpty ? -1 : 10)
            if ready < 0 && errno != EINTR { return }
            if fds[0].revents != 0 { return }
            if pending.isEmpty && fds[1].revents != 0 {
                let count = Self.read(input, into: &buffer)
                if count <= 0 { return }
                pending = buffer[0..<count]
            }
        }
    }
}
