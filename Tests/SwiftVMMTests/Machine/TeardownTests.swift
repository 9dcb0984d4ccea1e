import Foundation
import Testing
import TestGuests
@testable import SwiftVMM

/// A machine leaves nothing behind: after many create/run/destroy cycles the process has
/// the same file descriptors and threads as before.
/// Counts are compared with `<=`: descriptors and threads that earlier tests left closing
/// (subprocess pipes) may go away during a test; a leak only ever adds.
@Suite(.serialized, .enabled(if: KVMHost.available, "\(KVMHost.unavailableReason ?? "")"))
struct TeardownTests {
    /// The process's open descriptors and threads (/proc/self); a failed read fails the test.
    func openDescriptors() throws -> Int { try FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count }
    func threads() throws -> Int { try FileManager.default.contentsOfDirectory(atPath: "/proc/self/task").count }

    @Test func machinesLeaveNoDescriptorsOrThreads() throws {
        // One run first, so one-time process state (signal handlers, lazy globals) exists.
        _ = try boot(helloGuest)
        let (fds, tasks) = (try openDescriptors(), try threads())
        // Each guest with its own ending; any may also meet the 300 ms limit on a busy host.
        let guests: [(name: String, bytes: [UInt8], ending: Outcome)] = [
            ("hello", helloGuest, .debugExit(0)), ("smp-timer", smpTimerGuest, .debugExit(0)),
            ("halt", haltGuest, .deadlock), ("spin", spinGuest, .timedOut),
        ]
        for run in 0..<20 {
            let guest = guests[run % 4]
            let (outcome, _) = try boot(guest.bytes, cpus: 1 + run % 3, timeout: .milliseconds(300))
            #expect([guest.ending, .timedOut].contains(outcome), "run \(run): \(guest.name) ended with \(outcome)")
        }
        #expect(try openDescriptors() <= fds, "file descriptors")
        #expect(try threads() <= tasks, "threads")
    }

    /// A machine that fails while it is being built closes what the steps before the
    /// failure opened. Each configuration fails at a different step, later each time: the
    /// configuration check after /dev/kvm is open (HostVM), device placement (Board), the
    /// kernel's modules (loadFirmwareAndKernel), CPUID (VCPUSetup), the trace file (after
    /// the vCPU fds exist) and the gdb stub's port (after the runners exist, the last step).
    @Test("machines that fail at each step of being built leave no descriptors or threads")
    func failedBuildsLeaveNothing() throws {
        let module = try temporaryFile([UInt8](repeating: 0x90, count: 24 << 20), name: "large-module.bin")   // more than the RAM
        func config(_ change: (inout Machine.Configuration) -> Void) -> Machine.Configuration {
            var configuration = Machine.Configuration(kernel: .image(name: "hello", bytes: helloGuest), cpus: 2,
                                                      memorySize: 16 << 20, serialOutput: NullSink())
            change(&configuration)
            return configuration
        }
        // A machine whose gdb stub listens on a free port, which the last failure asks for.
        let portHolder = try Machine(config { $0.gdb = GDBOptions(port: 0) })
        let busyPort = try #require(portHolder.gdbPort)
        typealias Failure = (step: String, expected: String, configuration: Machine.Configuration)
        let failures: [Failure] = [
            ("HostVM", "--cpus 100000", config { $0.cpus = 100_000 }),
            ("Board", "0x3f8", config { $0.debugExitPorts = [0x3F8..<0x3F9] }),
            ("loadFirmwareAndKernel", module, config { $0.modules = [BootModule(path: module)] }),
            ("VCPUSetup", "unknown CPU feature", config { $0.cpuFeatures = ["no-such-feature": true] }),
            ("ExitTracer", "/nonexistent-directory/trace", config { $0.trace = .init(exits: .file("/nonexistent-directory/trace")) }),
            ("GDBServer", "\(busyPort)", config { $0.gdb = GDBOptions(port: busyPort) }),
        ]
        func build(_ failure: Failure) {
            do {
                _ = try Machine(failure.configuration)
                Issue.record("\(failure.step): the machine was built")
            } catch {
                #expect("\(error)".contains(failure.expected), "\(failure.step) failed otherwise: \(error)")
            }
        }
        failures.forEach(build)   // once first, so one-time process state exists
        let (fds, tasks) = (try openDescriptors(), try threads())
        for _ in 0..<10 { failures.forEach(build) }
        #expect(try openDescriptors() <= fds, "file descriptors")
        #expect(try threads() <= tasks, "threads")
        withExtendedLifetime(portHolder) {}
    }

    /// With a gdb stub, its controller and the vCPU runners refer to each other; the machine
    /// must still free them and close every vCPU fd (a cycle LeakSanitizer found:
    /// `scripts/sanitize.sh address`).
    @Test func machinesWithAGDBStubLeaveNoDescriptors() async throws {
        func cycle() async throws -> Outcome {
            let machine = try Machine(Machine.Configuration(kernel: .image(name: "hello", bytes: helloGuest), cpus: 2,
                                                            serialOutput: NullSink(), timeout: .seconds(20))
                .with(gdb: GDBOptions(port: 0)))
            return await machine.run()
        }
        _ = try await cycle()
        let fds = try openDescriptors()
        for run in 0..<5 { #expect(try await cycle() == .debugExit(0), "run \(run)") }
        #expect(try openDescriptors() <= fds, "file descriptors")
    }

    /// How a run is ended from outside, and the outcome that must follow.
    enum Ending: String, CaseIterable {
        case cancel, stop, timeout
    }

    /// Ends runs at 0, 3, 30 and 300 ms — during boot, during SMP start-up (broadcast INIT/SIPI
    /// on 4 vCPUs), while vCPUs are halted waiting for an interrupt (uart-irq waits for input)
    /// and while they spin — and checks each returns within 1 s and leaves nothing behind.
    @Test(arguments: Ending.allCases)
    func endingsInEveryPhase(_ ending: Ending) async throws {
        let guests = [(smpBroadcastGuest, 4), (uartIrqGuest, 2), (spinGuest, 2)]
        // One run of each first, so one-time process state exists before counting.
        for (guest, cpus) in guests {
            let machine = try Machine(.init(kernel: .image(name: "guest", bytes: guest), cpus: cpus, serialOutput: NullSink()))
            let run = Task { await machine.run() }
            try await Task.sleep(for: .milliseconds(30))
            run.cancel()
            _ = await run.value
        }
        let (fds, tasks) = (try openDescriptors(), try await settledThreads(expecting: threads()))
        let clock = ContinuousClock()
        for (guest, cpus) in guests {
            for delay in [0, 3, 30, 300] {
                let machine = try Machine(.init(kernel: .image(name: "guest", bytes: guest), cpus: cpus, serialOutput: NullSink(),
                                                timeout: ending == .timeout ? .milliseconds(delay) : .seconds(30)))
                let run = Task { await machine.run() }
                try await Task.sleep(for: .milliseconds(delay))
                let asked = clock.now
                switch ending {
                case .cancel: run.cancel()
                case .stop: machine.stop()
                case .timeout: break
                }
                let outcome = await run.value
                let expected: Outcome = switch ending {
                case .cancel: .cancelled
                case .stop: .stopped(signal: 0)
                case .timeout: .timedOut
                }
                // smp-broadcast ends by itself within a few ms; any other ending must be the asked one.
                if outcome != .debugExit(0) || guest != smpBroadcastGuest {
                    #expect(outcome == expected, "\(ending) after \(delay) ms on \(cpus) vCPUs")
                }
                #expect(clock.now - asked < .seconds(1), "\(ending) after \(delay) ms took \(clock.now - asked)")
            }
        }
        #expect(try openDescriptors() <= fds, "file descriptors")
        #expect(try await settledThreads(expecting: tasks) <= tasks, "threads")
    }

    /// The AddressSanitizer runtime is linked in (`swift test --sanitize=address`).
    let underAddressSanitizer = dlsym(nil, "__asan_init") != nil

    /// Resident set size (/proc/self/statm, field 2, in pages).
    func residentBytes() throws -> Int {
        let statm = try String(contentsOfFile: "/proc/self/statm", encoding: .utf8)
        let pages = try #require(statm.split(separator: " ").dropFirst().first.flatMap { Int($0) }, "statm: \(statm)")
        return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
    }

    /// The thread count, once threads that are just finishing (the detached thread behind
    /// `await run()` ends right after resuming its caller) have gone: it waits for the count
    /// to come back, up to 30 s, so a busy host that runs a finishing thread late is not a
    /// leak; a thread that never ends still fails the check after that.
    func settledThreads(expecting count: Int) async throws -> Int {
        var current = try threads()
        for _ in 0..<3000 where current > count {
            try? await Task.sleep(for: .milliseconds(10))
            current = try threads()
        }
        return current
    }

    @Test("500 create/run/destroy cycles through the async API: same fds and threads, RSS within a few MiB")
    func fiveHundredCycles() async throws {
        func cycle(_ run: Int) async throws -> Outcome {
            let machine = try Machine(.init(kernel: .image(name: "hello", bytes: helloGuest), cpus: 1 + run % 2,
                                            serialOutput: NullSink(), timeout: .seconds(20)))
            return await machine.run()
        }
        for run in 0..<20 { _ = try await cycle(run) }   // one-time state: the concurrency pool, lazy globals
        let (fds, tasks, rss) = (try openDescriptors(), try await settledThreads(expecting: threads()), try residentBytes())
        var failures = 0
        for run in 0..<500 where try await cycle(run) != .debugExit(0) { failures += 1 }
        #expect(failures == 0)
        #expect(try openDescriptors() <= fds, "file descriptors")
        #expect(try await settledThreads(expecting: tasks) <= tasks, "threads")
        let growth = try residentBytes() - rss
        // AddressSanitizer holds freed memory in quarantine (up to 256 MiB), so RSS shows
        // nothing there; its LeakSanitizer checks for leaks instead.
        if !underAddressSanitizer { #expect(growth < 4 << 20, "RSS grew \(growth >> 10) KiB") }
    }
}
