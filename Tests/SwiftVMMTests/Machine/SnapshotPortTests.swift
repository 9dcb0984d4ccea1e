import Foundation
import Testing
import TestGuests
@testable import SwiftVMM

/// The guest chooses where its snapshot is taken: a write to the snapshot port (0x5F0)
/// stops every vCPU there, the writer right after its OUT, and a read says whether the
/// machine continues a snapshot (the snapshot-port guest, guests/README.md).
@Suite(.enabled(if: KVMHost.available, "\(KVMHost.unavailableReason ?? "")"))
struct SnapshotPortTests {
    static let asking = "snapshot-port: asking", original = "snapshot-port: original"
    static let fork = "snapshot-port: fork, 1 APs counting"

    func configuration(_ sink: CollectingSink, asks: Bool) -> Machine.Configuration {
        var configuration = Machine.Configuration(kernel: .image(name: "snapshot-port", bytes: snapshotPortGuest), cpus: 2,
                                                  memorySize: 64 << 20, serialOutput: sink, timeout: .seconds(60))
        configuration.snapshotOnPortWrite = asks
        return configuration
    }

    /// The API: the machine waits at the write for `snapshot()`; the wait for the request
    /// stays answered until the snapshot is taken; the original then reads 0 and runs on,
    /// a fork reads 1 and finds its AP still counting.
    @Test func theGuestsWriteHoldsTheMachineForTheSnapshot() async throws {
        let sink = CollectingSink()
        let machine = try Machine(configuration(sink, asks: true))
        async let outcome = machine.run()
        try await machine.snapshotRequested(within: .seconds(30))
        #expect(sink.text == Self.asking + "\n", "the machine ran on past the write: \(sink.text)")
        try await machine.snapshotRequested(within: .seconds(30))   // not taken yet: still asked
        let snapshot = try machine.snapshot()
        #expect(!snapshot.configuration.snapshotOnPortWrite, "a fork would hold at the guest's next write")
        #expect(await outcome == .debugExit(0), "\(sink.text)")
        #expect(sink.text == Self.asking + "\n" + Self.original + "\n", "\(sink.text)")

        for _ in 0..<2 {
            let forkSink = CollectingSink()
            let forked = try await snapshot.fork(configuration(forkSink, asks: false)).run()
            #expect(forked == .debugExit(0), "\(forkSink.text)")
            #expect(forkSink.text == Self.fork + "\n", "\(forkSink.text)")
        }
    }

    /// Without `snapshotOnPortWrite` the write does nothing and the port reads 0.
    @Test func aMachineNotSetUpForItIgnoresTheWrite() async throws {
        let sink = CollectingSink()
        let outcome = try await Machine(configuration(sink, asks: false)).run()
        #expect(outcome == .debugExit(0), "\(sink.text)")
        #expect(sink.text == Self.asking + "\n" + Self.original + "\n", "\(sink.text)")
    }

    /// A debugger may hold the vCPUs too, and `snapshot()` refuses such a machine.
    @Test func aDebuggerAndThePortWriteDoNotMix() {
        var configuration = configuration(CollectingSink(), asks: true)
        configuration.gdb = GDBOptions(host: "127.0.0.1", port: 0, waitForDebugger: false)
        #expect {
            _ = try Machine(configuration)
        } throws: { error in
            "\(error)".contains("a snapshot port write cannot hold a machine a debugger may hold (--gdb)")
        }
    }

    @Test func waitingForARequestEndsWithTheRun() async throws {
        var configuration = Machine.Configuration(kernel: .image(name: "hello", bytes: helloGuest), serialOutput: CollectingSink(),
                                                  timeout: .seconds(60))
        configuration.snapshotOnPortWrite = true
        let machine = try Machine(configuration)
        async let outcome = machine.run()
        await #expect {
            try await machine.snapshotRequested(within: .seconds(60))
        } throws: { error in
            guard case .machineEnded(let outcome, _) = error as? ExpectError else { return false }
            return outcome == .debugExit(0)
        }
        #expect(await outcome == .debugExit(0))
    }

    /// `boot --save DIR` without `--snapshot-on`: the run ends at the write (the original's
    /// line never shows) with status 0, and each restore continues right after it.
    @Test func bootSaveTakesItWhereTheGuestAsks() throws {
        let kernel = try temporaryFile(snapshotPortGuest, name: "snapshot-port.elf")
        let directory = testScratch.appending(path: "cli-port-\(UUID().uuidString)").path
        let saved = try swiftvmm(["boot", kernel, "--cpus", "2", "--memory", "64", "--save", directory, "--timeout", "60"])
        #expect(saved.status == 0, "\(saved.stderr)")
        #expect(saved.stdout == Self.asking + "\n", "\(saved.stdout)")
        #expect(saved.stderr.contains("swiftvmm: snapshot saved to \(directory)"), "\(saved.stderr)")
        for _ in 0..<2 {
            let restored = try swiftvmm(["restore", directory, "--timeout", "60"])
            #expect(restored.status == 1, "\(restored.stderr)")   // the guest wrote 0 to port 0xF4
            #expect(restored.stdout == Self.fork + "\n", "\(restored.stdout)")
        }
    }

    @Test func aRunThatNeverAsksSavesNothing() throws {
        let kernel = try temporaryFile(helloGuest, name: "hello.elf")
        let directory = testScratch.appending(path: "cli-port-nothing-\(UUID().uuidString)").path
        let result = try swiftvmm(["boot", kernel, "--save", directory])
        #expect(result.status == 1)
        #expect(result.stderr.contains("no snapshot: the run ended before the guest wrote the snapshot port"), "\(result.stderr)")
        #expect(!FileManager.default.fileExists(atPath: directory + "/snapshot.json"))
    }
}
