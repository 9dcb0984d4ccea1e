import Logging
import SystemPackage
#if canImport(Glibc)
import Glibc
#endif
import SwiftVMMDebug

/// The gdb remote stub's network side: a TCP listener and one connection at a time, served
/// on a host thread of its own. Packets go to a `GDBSession`; stops come from the
/// `DebugController`, which wakes this thread through a pipe.
///
/// When gdb connects, the machine stops (unless it already waits, `--gdb-wait`); when gdb
/// detaches or the connection drops, breakpoints are removed and the guest runs on; when
/// the guest ends while gdb is attached, gdb is told the exit status (`W`).
final class GDBServer: @unchecked Sendable {
    let controller: DebugController
    private let control: RunControl
    private let logger: Logger
    private let listener: FileDescriptor
    /// Written to wake the server thread; read end polled with the sockets.
    private let wakePipe: (readEnd: FileDescriptor, writeEnd: FileDescriptor)
    private var thread: HostThread?
    /// The bound port (the one asked for, or the one the kernel chose for port 0).
    let port: UInt16

    init(_ options: GDBOptions, controller: DebugController, control: RunControl, logger: Logger) throws(HostError) {
        self.controller = controller
        self.control = control
        self.logger = logger
        let socketFD = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard socketFD >= 0 else { throw .io("gdb stub: socket", Errno(rawValue: errno)) }
        listener = FileDescriptor(rawValue: socketFD)
        do {
            var reuse: Int32 = 1
            setsockopt(socketFD, SOL_SOCKET, SO_REUSEADDR, &reuse, socklen_t(MemoryLayout<Int32>.size))
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = options.port.bigEndian
            guard inet_pton(AF_INET, options.host, &address.sin_addr) == 1 else {
                throw HostError.configuration("gdb stub: \(options.host) is not an IPv4 address")
            }
            // SAFETY: sockaddr_in and sockaddr are both 16 bytes, and bind(2) takes an AF_INET
            // sockaddr_in as a sockaddr; `address` is a local that outlives the call.
            let bound = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(socketFD, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            guard bound == 0 else { throw HostError.io("gdb stub: cannot listen on \(options.host):\(options.port)", Errno(rawValue: errno)) }
            guard listen(socketFD, 1) == 0 else { throw HostError.io("gdb stub: listen", Errno(rawValue: errno)) }
            var length = socklen_t(MemoryLayout<sockaddr_in>.size)
            // SAFETY: as for bind; `length` (sizeof sockaddr_in) caps what getsockname(2) writes into
            // the local `address`, and the rebound pointer does not escape the closure.
            _ = withUnsafeMutablePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(socketFD, $0, &length) }
            }
            port = UInt16(bigEndian: address.sin_port)
            do { wakePipe = try FileDescriptor.pipe() } catch { throw HostError.io("gdb stub: pipe", (error as? Errno) ?? .ioError) }
            // Waking must never block a vCPU thread, even with the pipe full.
            _ = fcntl(wakePipe.writeEnd.rawValue, F_SETFL, O_NONBLOCK)
        } catch {
            try? listener.close()
            throw error as! HostError
        }
        controller.notify = { [wakePipe] in _ = try? wakePipe.writeEnd.writeAll([1]) }
    }

    deinit {
        if thread == nil { try? listener.close() }
        try? wakePipe.readEnd.close()
        try? wakePipe.writeEnd.close()
    }

    func start() throws(HostError) {
        thread = try HostThread(name: "gdb") { [self] in serve() }
    }

    /// Waits for the server thread, which ends once the machine stops.
    func join() {
        thread?.join()
    }

    // MARK: The thread

    private func serve() {
        // Once the machine ends, nobody may connect and wait for an answer.
        defer { try? listener.close() }
        while !control.isStopping {
            guard let ready = poll([listener, wakePipe.readEnd]) else { break }
            if ready[1] { drainWakePipe() }
            guard ready[0] else { continue }
            let clientFD = accept(listener.rawValue, nil, nil)
            guard clientFD >= 0 else { continue }
            _ = fcntl(clientFD, F_SETFD, FD_CLOEXEC)
            var noDelay: Int32 = 1
            setsockopt(clientFD, Int32(IPPROTO_TCP), TCP_NODELAY, &noDelay, socklen_t(MemoryLayout<Int32>.size))
            let client = FileDescriptor(rawValue: clientFD)
            logger.notice("gdb stub: debugger connected")
            converse(with: client)
            try? client.close()
            logger.notice("gdb stub: debugger disconnected")
        }
    }

    /// Serves one connection until gdb detaches, kills, disconnects or the machine ends.
    private func converse(with client: FileDescriptor) {
        var decoder = GDBPacketDecoder()
        var lastSent: [UInt8] = []
        func send(_ payload: String) {
            lastSent = GDBPacket.encode(payload)
            _ = try? client.writeAll(lastSent)
        }

        controller.stop(StopEvent(vcpu: 0, reason: .attached))
        guard let first = waitForStop() else { return reportEnd(send) }
        let session = GDBSession(target: controller, stop: first)
        var running = false
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            guard let ready = poll([client, wakePipe.readEnd]) else { return }
            if ready[1] {
                drainWakePipe()
                if control.isStopping { return reportEnd(send) }
                if running, let event = controller.takeStop() {
                    running = false
                    send(session.stopped(event))
                }
            }
            guard ready[0] else { continue }
            // SAFETY: `buffer` is this thread's local 4096-byte array; read(2) writes at most its count,
            // and the pointer does not escape the closure.
            let count = buffer.withUnsafeMutableBytes { (try? client.read(into: $0)) ?? 0 }
            if count == 0 {   // gdb went away without detaching
                if running {
                    // Breakpoints are removed only with every vCPU parked.
                    controller.stop(StopEvent(vcpu: 0, reason: .interrupted))
                    guard waitForStop() != nil else { return }
                }
                controller.detach()
                return
            }
            for byte in buffer[..<count] {
                switch decoder.feed(byte) {
                case nil, .ack?: break
                case .nack?: _ = try? client.writeAll(lastSent)
                case .corrupt(let why)?:
                    logger.debug("gdb stub: bad packet (\(why))")
                    _ = try? client.writeAll([UInt8(ascii: "-")])
                case .interrupt?:
                    if running { controller.stop(StopEvent(vcpu: session.lastStop.vcpu, reason: .interrupted)) }
                case .packet(let packet)?:
                    _ = try? client.writeAll([UInt8(ascii: "+")])
                    guard !running else { continue }   // gdb sends nothing but Ctrl-C while running
                    switch session.handle(packet) {
                    case .reply(let reply): send(reply)
                    case .resumed: running = true
                    case .detach:
                        send("OK")
                        controller.detach()
                        return
                    case .kill:
                        controller.detach()
                        control.finish(.stopped(signal: SIGKILL))
                        return
                    }
                }
            }
        }
    }

    /// Blocks until the stop requested on attach is complete; nil when the machine ends first.
    private func waitForStop() -> StopEvent? {
        while !control.isStopping {
            if let event = controller.takeStop() { return event }
            guard poll([wakePipe.readEnd]) != nil else { return nil }
            drainWakePipe()
        }
        return nil
    }

    /// The machine ended while gdb was attached: `W` with the exit status (E.3).
    private func reportEnd(_ send: (String) -> Void) {
        let status = control.outcome?.outcome.exitStatus ?? 0
        send("W" + GDBHex.byte(UInt8(truncatingIfNeeded: status)))
    }

    /// Waits until any of `descriptors` is readable (or hung up); nil on a poll error.
    private func poll(_ descriptors: [FileDescriptor]) -> [Bool]? {
        var fds = descriptors.map { pollfd(fd: $0.rawValue, events: Int16(POLLIN), revents: 0) }
        while true {
            let result = Glibc.poll(&fds, nfds_t(fds.count), -1)
            if result >= 0 { return fds.map { $0.revents != 0 } }
            if errno != EINTR { return nil }
        }
    }

    private func drainWakePipe() {
        var bytes = [UInt8](repeating: 0, count: 64)
        // SAFETY: `bytes` is a local 64-byte array; read(2) writes at most its count into it.
        _ = bytes.withUnsafeMutableBytes { try? wakePipe.readEnd.read(into: $0) }
    }
}
