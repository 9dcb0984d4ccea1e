import Testing
import TestGuests
@testable import SwiftVMM
@testable import SwiftVMMDevices

/// Snapshots of a running 4-vCPU machine and the machines forked from them, with the
/// snapshot-timers guest (guests/README.md): a TSC-deadline or one-shot local APIC timer
/// on every CPU and an HPET comparator, armed before READY, where the snapshot is taken.
@Suite(.enabled(if: KVMHost.available, "\(KVMHost.unavailableReason ?? "")"), .serialized)
struct SnapshotIntegrationTests {
    static let cpus = 4
    static let pass = "fired 1 1 1 1 1 runs=1 scratch=clean"

    func configuration(_ sink: CollectingSink) -> Machine.Configuration {
        Machine.Configuration(kernel: .image(name: "snapshot-timers", bytes: snapshotTimersGuest), cpus: Self.cpus,
                              memorySize: 64 << 20, serialOutput: sink, timeout: .seconds(60))
    }

    /// Boots the guest to READY and takes a snapshot there; the original runs on to its end.
    func snapshotAtReady() async throws -> (MachineSnapshot, outcome: Outcome, output: String) {
        let sink = CollectingSink()
        let machine = try Machine(configuration(sink))
        async let outcome = machine.run()
        try await machine.expect(/^READY$/, within: .seconds(30))
        let snapshot = try machine.snapshot()
        return (snapshot, await outcome, sink.text)
    }

    @Test func theOriginalRunsOnAndEveryTimerWasArmedInTheSnapshot() async throws {
        let (snapshot, outcome, output) = try await snapshotAtReady()
        #expect(outcome == .debugExit(0), "\(output)")
        #expect(output.contains(Self.pass), "\(output)")
        // Taken before the first deadline (200 ms after READY): every timer is still armed.
        #expect(snapshot.vcpus.count == Self.cpus)
        for (index, vcpu) in snapshot.vcpus.enumerated() {
            #expect(vcpu.localAPIC?.timerDeadline != nil, "vCPU \(index)'s timer is not armed in the snapshot")
        }
        #expect(snapshot.devices.chipset?.hpet.timers[2].target != nil, "the HPET comparator is not armed in the snapshot")
        #expect(snapshot.ramPageCount > 0 && snapshot.ramPageCount < (64 << 20) / 4096, "\(snapshot.ramPageCount) pages")
    }

    /// Each fork continues after READY (it does not boot again), every timer armed before
    /// the snapshot fires once, in deadline order, and no fork sees another's writes: each
    /// finds the scratch area clean and `runs` at 1. The forks run long after the snapshot's
    /// deadlines, so on a host that ignores TSC writes the gap is real and must be hidden.
    @Test func forksOneAfterAnotherAndAtOnce() async throws {
        let (snapshot, _, _) = try await snapshotAtReady()
        for _ in 0..<2 {
            let sink = CollectingSink()
            let outcome = await try snapshot.fork(configuration(sink)).run()
            #expect(outcome == .debugExit(0), "\(sink.text)")
            #expect(sink.text.contains(Self.pass), "\(sink.text)")
            #expect(!sink.text.contains("READY"), "the fork booted again: \(sink.text)")
        }
        let sinks = (0..<3).map { _ in CollectingSink() }
        let forks = try sinks.map { try snapshot.fork(configuration($0)) }
        await withTaskGroup(of: Void.self) { group in
            for (fork, sink) in zip(forks, sinks) {
                group.addTask {
                    let outcome = await fork.run()
                    #expect(outcome == .debugExit(0), "\(sink.text)")
                    #expect(sink.text.contains(Self.pass), "\(sink.text)")
                }
            }
        }
    }

    @Test func aForkMustHaveTheSnapshotsShape() async throws {
        let (snapshot, _, _) = try await snapshotAtReady()
        var other = configuration(CollectingSink())
        other.cpus = 2
        #expect(throws: MachineError.self) { try snapshot.fork(other) }
    }
}
