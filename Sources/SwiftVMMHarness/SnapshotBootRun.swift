import Logging
import SwiftVMM
import SystemPackage

/// Why a manifest's snapshot could not be taken: every case that forks from it fails
/// with this reason.
struct SnapshotUnavailable: Error, CustomStringConvertible {
    var reason: String
    var description: String { "no snapshot to fork from: \(reason)" }
}

/// The manifest's snapshot boot: boots its kernel once, waits for the `at` line or the
/// guest's write to the snapshot port, takes the snapshot and stops that machine there.
/// The cases with `input` fork from what it took.
struct SnapshotBootRun {
    let snapshotBoot: Manifest.SnapshotBoot
    let kernelDirectory: String
    /// Where the boot's serial output is kept, when an output folder was given.
    let logPath: String?

    /// The snapshot and how long the boot took to reach it, or why there is none.
    func run() async -> (snapshot: Result<MachineSnapshot, SnapshotUnavailable>, duration: Duration) {
        let clock = ContinuousClock()
        let started = clock.now
        let result = await take()
        return (result, clock.now - started)
    }

    private func take() async -> Result<MachineSnapshot, SnapshotUnavailable> {
        let log: FileDescriptor?
        do { log = try openSerialLog(logPath) } catch {
            return .failure(SnapshotUnavailable(reason: error.problem))
        }
        defer { try? log?.close() }
        let messages = MessageLog()
        let result = await boot(serialOutput: log.map { FileDescriptorSink($0) } ?? NullSink(), messages: messages)
        if let log {
            let ending = switch result {
            case .success: "snapshot taken"
            case .failure(let error): "\(error)"
            }
            _ = try? log.writeAll(("\n--- swiftvmm: \(ending)\n" + messages.all.map { "--- \($0)\n" }.joined()).utf8)
        }
        return result
    }

    private func boot(serialOutput: any SerialSink, messages: MessageLog) async -> Result<MachineSnapshot, SnapshotUnavailable> {
        let pattern: Regex<AnyRegexOutput>?
        let machine: Machine
        do {
            pattern = try snapshotBoot.at.map { try Regex($0) }
            var configuration = snapshotBoot.boot.configuration(kernelDirectory: kernelDirectory, serialOutput: serialOutput,
                                                                timeout: snapshotBoot.timeout)
            configuration.snapshotOnPortWrite = pattern == nil
            machine = try Machine(configuration, logger: Logger(label: "swiftvmm") { _ in messages })
        } catch {
            return .failure(SnapshotUnavailable(reason: "the snapshot's machine did not start: \(error)"))
        }
        async let ended = machine.run()
        let result: Result<MachineSnapshot, SnapshotUnavailable>
        do {
            let limit = snapshotBoot.timeout + CaseRun.expectMargin
            if let pattern {
                _ = try await machine.expect(pattern, within: limit)
            } else {
                try await machine.snapshotRequested(within: limit)
            }
            do throws(MachineError) {
                result = .success(try machine.snapshot(thenStop: true))
            } catch {
                result = .failure(SnapshotUnavailable(reason: "taking it failed: \(error)"))
            }
        } catch {
            let missing = snapshotBoot.at.map { "printed no line matching /\($0)/" } ?? "never wrote the snapshot port"
            result = .failure(SnapshotUnavailable(reason: "the snapshot boot of \(snapshotBoot.boot.kernel) \(missing): \(CaseRun.reason(error))"))
        }
        machine.stop()
        _ = await ended
        return result
    }
}
