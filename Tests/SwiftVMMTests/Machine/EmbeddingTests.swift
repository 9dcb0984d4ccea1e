import Foundation
import Testing
import TestGuests
@testable import SwiftVMM

/// The library as a test harness uses it: async run, expect, send, cancel, statistics,
/// many machines at once, and nothing left behind.
@Suite(.enabled(if: KVMHost.available, "\(KVMHost.unavailableReason ?? "")"))
struct EmbeddingTests {
    func machine(_ guest: [UInt8], cpus: Int = 1, timeout: Duration = .seconds(20)) throws -> Machine {
        try Machine(.init(kernel: .image(name: "guest", bytes: guest), cpus: cpus, serialOutput: NullSink(), timeout: timeout))
    }

    @Test func runAndExpect() async throws {
        let machine = try machine(demoGuest, cpus: 2)
        async let outcome = machine.run()
        let line = try await machine.expect(/(\d+) of (\d+) CPUs online/, within: .seconds(10))
        #expect(line == "SwiftVMM demo: 2 of 2 CPUs online")
        #expect(await outcome == .debugExit(0))
        let statistics = machine.statistics
        #expect(statistics.exits.count == 2)
        #expect(statistics.exits[0][.ioOut, default: 0] > 30, "the demo's serial output is port I/O")
        #expect(statistics.wallTime > .zero)
    }

    @Test func expectsConsumeLinesInOrder() async throws {
        let machine = try machine(mbinfoGuest)
        async let outcome = machine.run()
        try await machine.expect(/^magic=/, within: .seconds(10))
        // A pattern that matched only before the cursor is not found again.
        await #expect(throws: ExpectError.self) { try await machine.expect(/^magic=/, within: .seconds(10)) }
        _ = await outcome
        #expect(machine.serialTranscript.contains { $0.hasPrefix("magic=") })
    }

    @Test func expectTimesOutAndCancellationStopsTheMachine() async throws {
        let machine = try machine(spinGuest)
        let run = Task { await machine.run() }
        try await machine.expect(/spinning/, within: .seconds(10))
        let clock = ContinuousClock()
        let waited = await clock.measure {
            await #expect {
                try await machine.expect(/never printed/, within: .milliseconds(200))
            } throws: { error in
                if case .timedOut(_, let lines) = error as? ExpectError { return lines.contains("spinning") }
                return false
            }
        }
        #expect(waited < .seconds(2))
        let stopped = clock.now
        run.cancel()
        #expect(await run.value == .cancelled)
        #expect(clock.now - stopped < .seconds(1))
    }

    @Test func sendTypesIntoTheSerialPort() async throws {
        let machine = try machine(uartIrqGuest)
        async let outcome = machine.run()
        try await machine.expect(/uart-irq: ready/, within: .seconds(10))
        await machine.send("hello q")
        try await machine.expect(/^hello $/, within: .seconds(10))
        try await machine.expect(/uart-irq: PASS/, within: .seconds(10))
        #expect(await outcome == .debugExit(0))
    }

    @Test func serialLinesStreamEndsWithTheRun() async throws {
        let machine = try machine(demoGuest, cpus: 2)
        let lines = machine.serialLines
        async let outcome = machine.run()
        var seen: [String] = []
        for await line in lines { seen.append(line) }
        #expect(seen.last == "SwiftVMM demo: 2 of 2 CPUs online")
        #expect(await outcome == .debugExit(0))
    }

    @Test func concurrentMachinesSpreadOverHostCPUs() async throws {
        let outcomes = try await withThrowingTaskGroup(of: Outcome.self) { group in
            for _ in 0..<4 {
                let machine = try machine(helloGuest)
                group.addTask { await machine.run() }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(outcomes == Array(repeating: .debugExit(0), count: 4))
    }

    @Test func hostCPUPoolSpreadsLeases() {
        let pool = HostCPUPool()
        do {
            let first = pool.lease(count: 2, from: [0, 1])
            let second = pool.lease(count: 1, from: [0, 1])
            let third = pool.lease(count: 1, from: [0, 1])
            #expect(first.cpus == [0, 1])
            #expect(second.cpus == [0] && third.cpus == [1], "the second machine's vCPU 0 is not stacked on CPU 0")
            let fourth = pool.lease(count: 3, from: [0, 1, 2])
            #expect(fourth.cpus == [2, 2, 0], "the idle CPU first")
        }
        #expect(pool.lease(count: 2, from: [0, 1]).cpus == [0, 1], "freed leases gave their CPUs back")
    }
}
