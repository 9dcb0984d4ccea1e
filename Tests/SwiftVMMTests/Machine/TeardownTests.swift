import Foundation
import Testing
import TestGuests
@testable import SwiftVMM

/// A machine leaves nothing behind: after many create/run/destroy cycles the process has
/// the same file descriptors and threads as before.
@Suite(.enabled(if: KVMHost.available, "\(KVMHost.unavailableReason ?? "")"))
struct TeardownTests {
    func openDescriptors() -> Int { (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count) ?? -1 }
    func threads() -> Int { (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task").count) ?? -1 }

    @Test func machinesLeaveNoDescriptorsOrThreads() throws {
        // One run first, so one-time process state (signal handlers, lazy globals) exists.
        _ = try boot(helloGuest)
        let (fds, tasks) = (openDescriptors(), threads())
        for run in 0..<20 {
            let guest = [helloGuest, smpTimerGuest, haltGuest, spinGuest][run % 4]
            let (outcome, _) = try boot(guest, cpus: 1 + run % 3, timeout: .milliseconds(300))
            #expect(outcome != .hostError(""), "run \(run)")
        }
        #expect(openDescriptors() == fds, "file descriptors")
        #expect(threads() == tasks, "threads")
    }

    func residentBytes() -> Int {
        let statm = (try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8)) ?? ""
        return (statm.split(separator: " ").dropFirst().first.flatMap { Int($0) } ?? 0) * Int(sysconf(Int32(_SC_PAGESIZE)))
    }

    /// The thread count, once threads that are just finishing (the detached thread behind
    /// `await run()` ends right after resuming its caller) have gone.
    func settledThreads(expecting count: Int) async -> Int {
        for _ in 0..<100 where threads() != count { try? await Task.sleep(for: .milliseconds(10)) }
        return threads()
    }

    @Test("500 create/run/destroy cycles through the async API: same fds and threads, RSS within a few MiB")
    func fiveHundredCycles() async throws {
        func cycle(_ run: Int) async throws -> Outcome {
            let machine = try Machine(.init(kernel: .image(name: "hello", bytes: helloGuest), cpus: 1 + run % 2,
                                            serialOutput: NullSink(), timeout: .seconds(20)))
            return await machine.run()
        }
        for run in 0..<20 { _ = try await cycle(run) }   // one-time state: the concurrency pool, lazy globals
        let (fds, tasks, rss) = (openDescriptors(), await settledThreads(expecting: threads()), residentBytes())
        var failures = 0
        for run in 0..<500 where try await cycle(run) != .debugExit(0) { failures += 1 }
        #expect(failures == 0)
        #expect(openDescriptors() == fds, "file descriptors")
        #expect(await settledThreads(expecting: tasks) == tasks, "threads")
        let growth = residentBytes() - rss
        #expect(growth < 4 << 20, "RSS grew \(growth >> 10) KiB")
    }
}
