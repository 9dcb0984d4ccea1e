import ArgumentParser
import Dispatch
import Synchronization
import SystemPackage
import SwiftVMM

/// `boot --save DIR [--snapshot-on REGEX]`: where the guest writes the snapshot port, or
/// where it prints a line that matches, take a snapshot of the machine, write it to DIR and
/// end the run there (status 0).
struct SnapshotRequest {
    /// nil: where the guest writes the snapshot port.
    var pattern: String?
    var directory: String

    /// The option that asked for the snapshot, for messages.
    var trigger: String { pattern == nil ? "--save" : "--snapshot-on" }

    func validate(_ settings: MachineSettings) throws {
        if settings.reboot { throw ValidationError("\(trigger) cannot be combined with --reboot") }
        if settings.gdb != nil || settings.gdbDefaultPort { throw ValidationError("\(trigger) cannot be combined with --gdb") }
        if let pattern {
            do { _ = try Regex(pattern) } catch {
                throw ValidationError("--snapshot-on: not a valid regular expression: \(error)")
            }
        }
    }
}

/// Waits for the guest's request or the line on a task of its own (the vCPU that wrote
/// the port or printed the line cannot take the snapshot: every vCPU must stop for it),
/// then takes the snapshot, ends the run and saves it. The port's snapshot is exact: the
/// writer stands right after its OUT, the machine goes no further. The line's is taken a
/// moment after the line, wherever the vCPUs then are; a guest waits for it by doing
/// nothing that matters meanwhile (the proving guest's timers are due 200 ms after READY).
final class SnapshotWatcher: Sendable {
    enum Result: Sendable {
        case saved
        case failed(MachineError)
        case noMatch
    }

    private let request: SnapshotRequest
    /// What the task did, set once before it signals `done`.
    private final class Box: Sendable {
        let result = Mutex<Result>(.noMatch)
    }
    private let box = Box()
    private let done = DispatchSemaphore(value: 0)
    private let task: Task<Void, Never>

    init(_ request: SnapshotRequest, session: MachineSession) {
        self.request = request
        let (box, done) = (box, done)
        task = Task.detached {
            defer { done.signal() }
            guard let machine = session.machine else { return }
            do {
                let forever = Duration.seconds(366 * 86_400)
                if let pattern = request.pattern {
                    try await machine.expect(try Regex(pattern), within: forever)
                } else {
                    try await machine.snapshotRequested(within: forever)
                }
            } catch {
                return   // the run ended first (or was cancelled)
            }
            do throws(MachineError) {
                let snapshot = try machine.snapshot(thenStop: true)
                try snapshot.save(to: FilePath(request.directory))
                box.result.withLock { $0 = .saved }
            } catch {
                box.result.withLock { $0 = .failed(error) }
            }
            machine.stop()   // when taking it failed
        }
    }

    /// The exit status once the run returned `outcome`: 0 when the snapshot was saved.
    func finish(_ outcome: Outcome) -> Int32 {
        task.cancel()
        done.wait()
        switch box.result.withLock({ $0 }) {
        case .saved:
            printError("swiftvmm: snapshot saved to \(request.directory)")
            return ExitStatus.poweredOff
        case .failed(let error):
            printError("swiftvmm: \(request.trigger): \(error)")
            return error.exitStatus
        case .noMatch:
            let trigger = request.pattern == nil ? "the guest wrote the snapshot port" : "a line matched --snapshot-on"
            printError("swiftvmm: no snapshot: the run ended before \(trigger)")
            return outcome.exitStatus
        }
    }
}
