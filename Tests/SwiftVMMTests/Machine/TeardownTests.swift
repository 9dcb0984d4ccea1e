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
}
