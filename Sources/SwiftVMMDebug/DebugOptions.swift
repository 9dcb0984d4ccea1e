#if canImport(Glibc)
import Glibc
#endif

/// Where the gdb stub listens and whether the guest waits for it.
public struct GDBOptions: Equatable, Sendable {
    /// IPv4 address to listen on; loopback unless asked otherwise.
    public var host: String
    /// TCP port; 0 picks a free one (see `Machine.gdbPort`).
    public var port: UInt16
    /// Hold every vCPU before its first instruction until gdb continues (QEMU's `-S`).
    public var waitForDebugger: Bool

    public init(host: String = "127.0.0.1", port: UInt16, waitForDebugger: Bool = false) {
        self.host = host; self.port = port; self.waitForDebugger = waitForDebugger
    }

    /// `tcp::PORT` or `tcp:HOST:PORT` (QEMU's `-gdb` device syntax); nil when malformed.
    public init?(device: String, waitForDebugger: Bool = false) {
        let parts = device.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0] == "tcp", let port = UInt16(parts[2]) else { return nil }
        let host = parts[1].isEmpty || parts[1] == "localhost" ? "127.0.0.1" : String(parts[1])
        var address = in_addr()
        guard inet_pton(AF_INET, host, &address) == 1 else { return nil }
        self.init(host: host, port: port, waitForDebugger: waitForDebugger)
    }
}

/// What `--trace` asks for: every exit as a line (`exits`, to stderr or a file) and/or
/// counts and handling time per exit kind at the end (`summary`).
public struct ExitTraceOptions: Equatable, Sendable {
    public enum Destination: Equatable, Sendable {
        case standardError
        case file(String)
    }
    public var exits: Destination?
    public var summary: Bool

    public init(exits: Destination? = nil, summary: Bool = false) {
        self.exits = exits
        self.summary = summary
    }
}
