import ArgumentParser
import Dispatch
import Synchronization
import SystemPackage
import SwiftVMM

/// `boot --snapshot-on REGEX --save DIR`: where the guest prints a line that matches, take
/// a snapshot of the machine, write it to DIR and end the run (status 0).
struct SnapshotRequest {
    var pattern: String
    var directory: String

    func validate(_ settings: MachineSettings) throws {
        if settings.reboot { throw ValidationError("--snapshot-on cannot be combined with --reboot") }
        if settings.gdb != nil || settings.gdbDefaultPort { throw ValidationError("--snapshot-on cannot be combined with --gdb") }
        do { _ = try Regex(pattern) } catch {
            throw ValidationError("--snapshot-on: not a valid regular expression: \(error)")
        }
    }
}

/// Watches the serial lines for the request's pattern on a task of its own (the vCPU that
/// printed the line cannot take the snapshot: every vCPU must stop for it), then takes,
/// saves and stops. The snapshot is taken a moment after the line, wherever the vCPUs then
/// are; a guest waits for it by doing nothing that matters meanwhile (the proving guest's
/// timers are due 200 ms after READY).
final class SnapshotWatcher: Sendable {
    enum Result: Sendable {
        case saved
        case failed(MachineError)
        case noMatch
    }

    private let directory: String
    /// What the task did, set once before it signals `done`.
    private final class Box: Sendable {
        let result = Mutex<Result>(.noMatch)
    }
    private let box = Box()
    private let done = DispatchSemaphore(value: 0)
    private let task: Task<Void, Never>

    init(_ request: SnapshotRequest, session: MachineSession) {
        directory = request.directory
        let (box, done) = (box, done)
        task = Task.detached {
            defer { done.signal() }
            guard let machine = session.machine, let pattern = try? Regex(request.pattern) else { return }
            do {
                try await machine.expect(pattern, within: .seconds(366 * 86_400))
            } catch {
                return   // the run ended first (or was cancelled)
            }
            do throws(MachineError) {
                let snapshot = try machine.snapshot()
                try snapshot.save(to: FilePath(request.directory))
                box.result.withLock { $0 = .saved }
            } catch {
                box.result.withLock { $0 = .failed(error) }
            }
            machine.stop()
        }
    }

    /// The exit status once the run returned `outcome`: 0 when the snapshot was saved.
    func finish(_ outcome: Outcome) -> Int32 {
        task.cancel()
        done.wait()
        switch box.result.withLock({ $0 }) {
        case .saved:
            printError("swiftvmm: snapshot saved to \(directory)")
            return ExitStatus.poweredOff
        case .failed(let error):
            printError("swiftvmm: --snapshot-on: \(error)")
            return error.exitStatus
        case .noMatch:
            printError("swiftvmm: no snapshot: the run ended before a line matched --snapshot-on")
            return outcome.exitStatus
        }
    }
}
