import SystemPackage
import SwiftVMMKVM
import SwiftVMMSupport
import SwiftVMMDebug

/// Records VM exits for `--trace`. A vCPU thread calls `handle` instead of the exit
/// handler only when tracing is on, so without `--trace` the exit path pays one nil check.
///
/// A line: `SECONDS vcpu=N KIND [port|addr|msr=0x..] [size=N] [value=0x..] rip=0x..`, with
/// SECONDS since the machine was built (host CLOCK_MONOTONIC, ns resolution), the value
/// after handling (reads show what the guest got), and RIP as KVM reports it at the exit
/// (for port I/O usually the instruction after the `in`/`out`).
final class ExitTracer: @unchecked Sendable {
    let options: ExitTraceOptions
    private let start = monotonicNanoseconds()
    private let output: FileDescriptor?
    private let ownsOutput: Bool
    private let pending = AnnotatedMutex<[UInt8]>([])
    /// Per vCPU, each touched only by its own thread and read after the threads are joined.
    private let statistics: [Statistics]

    final class Statistics: @unchecked Sendable {
        var count = [Int](repeating: 0, count: VCPUExit.Kind.allCases.count)
        var nanoseconds = [UInt64](repeating: 0, count: VCPUExit.Kind.allCases.count)
    }

    init(_ options: ExitTraceOptions, cpuCount: Int) throws(MachineError) {
        self.options = options
        statistics = (0..<cpuCount).map { _ in Statistics() }
        switch options.exits {
        case nil:
            output = nil
            ownsOutput = false
        case .standardError?:
            output = .standardError
            ownsOutput = false
        case .file(let path)?:
            do {
                output = try FileDescriptor.open(path, .writeOnly, options: [.create, .truncate, .closeOnExec],
                                                 permissions: [.ownerReadWrite, .groupRead, .otherRead])
            } catch {
                throw .invalidConfiguration("--trace exits=\(path): cannot open for writing: \(error)")
            }
            ownsOutput = true
        }
    }

    deinit {
        if ownsOutput { try? output?.close() }
    }

    /// Handles `exit` with `handler`, timing it, and records it.
    func handle(_ exit: VCPUExit, on vcpu: any VirtualCPU, with handler: ExitHandler) -> ExitAction {
        let begin = monotonicNanoseconds()
        let action = handler.handle(exit)
        let end = monotonicNanoseconds()
        let record = ExitRecord(exit, time: begin)
        let stats = statistics[vcpu.id]
        stats.count[Int(record.kind.rawValue)] += 1
        stats.nanoseconds[Int(record.kind.rawValue)] += end - begin
        if output != nil {
            let rip = (try? vcpu.registers().rip).map(hex) ?? "?"
            let line = "\(Self.seconds(begin - start)) vcpu=\(vcpu.id) \(record.description) rip=\(rip)\n"
            pending.withLock { buffer in
                buffer.append(contentsOf: line.utf8)
                if buffer.count >= 1 << 16 { flush(&buffer) }
            }
        }
        return action
    }

    /// Writes what is buffered (after the vCPU threads have stopped).
    func finish() {
        pending.withLock { flush(&$0) }
    }

    private func flush(_ buffer: inout [UInt8]) {
        _ = try? output?.writeAll(buffer)
        buffer.removeAll(keepingCapacity: true)
    }

    /// "12.000345678": nanoseconds as seconds with every digit.
    static func seconds(_ nanoseconds: UInt64) -> String {
        "\(nanoseconds / 1_000_000_000)." + String(nanoseconds % 1_000_000_000).leftPadded(to: 9)
    }

    /// Counts and total handling time per exit kind, every vCPU together; nil unless
    /// `summary` was asked for.
    var summary: String? {
        guard options.summary else { return nil }
        var text = "exit summary (\(statistics.count) vCPUs; time = SwiftVMM handling, KVM_RUN return to handler done):\n"
        text += "  " + "kind".padding(16) + "count".leftPadded(to: 10, with: " ") + "total ms".leftPadded(to: 12, with: " ")
            + "mean µs".leftPadded(to: 10, with: " ") + "\n"
        var total = 0
        for kind in VCPUExit.Kind.allCases {
            let count = statistics.reduce(0) { $0 + $1.count[Int(kind.rawValue)] }
            guard count > 0 else { continue }
            total += count
            let nanoseconds = statistics.reduce(UInt64(0)) { $0 + $1.nanoseconds[Int(kind.rawValue)] }
            text += "  " + kind.name.padding(16) + String(count).leftPadded(to: 10, with: " ")
                + Self.fixed(Double(nanoseconds) / 1e6, 3).leftPadded(to: 12, with: " ")
                + Self.fixed(Double(nanoseconds) / 1e3 / Double(count), 1).leftPadded(to: 10, with: " ") + "\n"
        }
        return text + "  " + "total".padding(16) + String(total).leftPadded(to: 10, with: " ") + "\n"
    }

    /// Per-kind counts, for tests.
    func count(of kind: VCPUExit.Kind) -> Int {
        statistics.reduce(0) { $0 + $1.count[Int(kind.rawValue)] }
    }

    static func fixed(_ value: Double, _ decimals: Int) -> String {
        var scale = 1.0
        for _ in 0..<decimals { scale *= 10 }
        let scaled = Int((value * scale).rounded())
        let whole = scaled / Int(scale), fraction = scaled % Int(scale)
        return decimals == 0 ? "\(whole)" : "\(whole)." + String(fraction).leftPadded(to: decimals)
    }
}
