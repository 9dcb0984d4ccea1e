import Foundation
import SystemPackage
import Testing
import TestGuests
@testable import SwiftVMM

/// Debian's gdb against the stub: a 4-vCPU guest held before its first instruction,
/// breakpoints, single-step, registers, memory, threads, detach to the normal end.
/// A test of a host feature KVM_SET_GUEST_DEBUG lacks here (probed once, `hostSupport`)
/// is cancelled with the reason, which the test report shows as a skip.
@Suite(.enabled(if: KVMHost.available, "\(KVMHost.unavailableReason ?? "")"),
       .enabled(if: FileManager.default.isExecutableFile(atPath: GDB.path), "needs \(GDB.path) (Debian's gdb package)"))
struct GDBStubIntegrationTests {
    /// A guest running on a thread of its own, with the stub listening on a free port.
    final class DebuggedMachine: Sendable {
        let machine: Machine
        let sink = CollectingSink()
        private let result = AnnotatedMutex<Outcome?>(nil)
        private let done = DispatchSemaphore(value: 0)

        init(guest: [UInt8] = gdbTargetGuest, name: String = "gdb-target", cpus: Int, wait: Bool = true) throws {
            var configuration = Machine.Configuration(kernel: .image(name: name, bytes: guest), cpus: cpus,
                                                      serialOutput: sink, timeout: .seconds(120))
            configuration.gdb = GDBOptions(port: 0, waitForDebugger: wait)
            machine = try Machine(configuration)
            Thread.detachNewThread { [self] in
                let outcome = machine.run()
                result.withLock { $0 = outcome }
                done.signal()
            }
        }

        /// Waits until the guest has printed `text` (polling its output; false after `seconds`).
        func waitForOutput(_ text: String, within seconds: Double = 60) -> Bool {
            let deadline = Date(timeIntervalSinceNow: seconds)
            while !sink.text.contains(text) {
                if Date() > deadline { return false }
                Thread.sleep(forTimeInterval: 0.01)
            }
            return true
        }

        func outcome(within seconds: Double = 60) -> Outcome? {
            guard done.wait(timeout: .now() + seconds) == .success else {
                machine.stop()
                done.wait()
                return nil
            }
            return result.withLock { $0 }
        }
    }

    /// What KVM guest debugging can do on this host (the probe the stub itself runs).
    static let hostSupport: GuestDebugSupport? = KVMHost.available ? (try? KVM()).map(GuestDebugSupport.probe) : nil

    /// Cancels the running test, shown as a skip with the reason, unless the host has `feature`.
    func requireHost(_ feature: KeyPath<GuestDebugSupport, Bool>, _ what: String) throws {
        let support = try #require(Self.hostSupport, "probing KVM guest debugging failed")
        if !support[keyPath: feature] { try Test.cancel("this host's KVM cannot deliver \(what): \(support)") }
    }

    @Test func gdbBreaksStepsInspectsAndDetaches() throws {
        let vm = try DebuggedMachine(cpus: 4)
        let support = try #require(vm.machine.gdbServer?.controller.support)
        let elf = try temporaryFile(gdbTargetGuest, name: "gdb-target.elf")
        let port = try #require(vm.machine.gdbPort)

        let commands = [
            "set architecture i386:x86-64", "target remote :\(port)",
            "info registers rip", "break gdb_checkpoint", "continue",
            "info registers rip", "stepi", "info registers rip",
            "x/wx &gdb_poke", "set {unsigned int}&gdb_poke = 0x5a5a", "x/wx &gdb_poke",
            "info threads", "thread 3", "info registers rip", "thread 1",
            "p/x $cr0", "p/x $efer", "shell sleep 1", "monitor info", "detach",
        ]
        #expect(support.singleStep, "\(support)")
        try #require(support.softwareBreakpoints != .unavailable, "software breakpoints unavailable: \(support)")

        let output = try GDB.run(elf: elf, commands: commands)
        let outcome = vm.outcome()
        let serial = vm.sink.text

        // Held before the first instruction: the multiboot entry point.
        #expect(output.contains("in _start ()"), "\(output)")
        #expect(output.contains("hit Breakpoint 1, "), "\(output)")
        let rips = output.split(separator: "\n").filter { $0.hasPrefix("rip ") }.compactMap { line in
            line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first.flatMap { UInt64($0.dropFirst(2), radix: 16) }
        }
        try #require(rips.count >= 4, "\(output)")
        // rip at the breakpoint is inside gdb_checkpoint; one stepi moves it forward by one
        // instruction (a nop: one byte).
        #expect(output.contains("<gdb_checkpoint+"), "\(output)")
        #expect(rips[2] == rips[1] + 1, "stepi: \(rips)")
        #expect(output.contains("<gdb_poke>:\t0x00001234"), "\(output)")
        #expect(output.contains("<gdb_poke>:\t0x00005a5a"), "\(output)")
        // Every vCPU is a thread; the APs are spinning in ap_spin.
        for thread in 1...4 { #expect(output.contains("Thread \(thread) (vCPU \(thread - 1) ("), "\(output)") }
        #expect(output.contains("in ap_spin ()"), "\(output)")
        #expect(output.contains("<ap_spin+"), "thread 3's rip: \(output)")
        // Long mode, paging on: CR0.PG and PE, EFER.LMA and LME.
        #expect(output.contains("= 0x800000"), "\(output)")
        #expect(output.contains("= 0x500") || output.contains("= 0xd00"), "\(output)")
        #expect(output.contains("KVM guest debugging on this host"), "\(output)")
        #expect(output.contains("Remote target) detached"), "\(output)")

        // The guest ran to its normal end with the value gdb wrote.
        #expect(outcome == .debugExit(0), "\(String(describing: outcome))\n\(serial)")
        #expect(serial.contains("4 of 4 CPUs online"), "\(serial)")
        #expect(serial.contains("poke=0x5a5a"), "\(serial)")
        // gdb held the machine for over a second between the two PM timer reads; frozen
        // time means the guest saw far less.
        let pmMicroseconds = try #require(Self.value("pm_elapsed_us", in: serial), "\(serial)")
        #expect(pmMicroseconds < 300_000, "PM timer saw \(pmMicroseconds) µs pass while stopped")
    }

    /// The number after `name=` in the guest's output.
    static func value(_ name: String, in serial: String) -> Int? {
        serial.split(separator: "\n").first { $0.contains(" \(name)=") }
            .flatMap { line in line.split(separator: " ").first { $0.hasPrefix("\(name)=") } }
            .flatMap { Int($0.dropFirst(name.count + 1)) }
    }

    /// `monitor snapshot DIR` at a software breakpoint: the snapshot holds the guest's own
    /// byte there, not the int3, and the value gdb wrote; a machine restored from it, with no
    /// debugger, continues from the breakpoint to the guest's normal end.
    @Test func monitorSnapshotSavesTheStoppedMachine() throws {
        if let support = Self.hostSupport, support.softwareBreakpoints == .unavailable {
            try Test.cancel("this host's KVM cannot stop at software breakpoints: \(support)")
        }
        let vm = try DebuggedMachine(cpus: 2)
        let elf = try temporaryFile(gdbTargetGuest, name: "gdb-target-snapshot.elf")
        let port = try #require(vm.machine.gdbPort)
        let directory = testScratch.appending(path: "gdb-snapshot-\(UUID().uuidString)").path
        let output = try GDB.run(elf: elf, commands: [
            // Breakpoints stay planted while stopped (gdb lifts them by default), so the
            // snapshot is taken with an int3 in RAM.
            "set breakpoint always-inserted on",
            "set architecture i386:x86-64", "target remote :\(port)", "break gdb_checkpoint", "break gdb_second", "continue",
            "set {unsigned int}&gdb_poke = 0x7777", "monitor snapshot \(directory)", "monitor snapshot", "detach",
        ])
        #expect(output.contains("hit Breakpoint 1, "), "\(output)")
        #expect(output.contains("snapshot saved to \(directory)"), "\(output)")
        #expect(output.contains("usage: monitor snapshot DIR"), "\(output)")
        #expect(vm.outcome() == .debugExit(0), "\(vm.sink.text)")
        #expect(vm.sink.text.contains("poke=0x7777"), "\(vm.sink.text)")

        let sink = CollectingSink()
        let restored = try Machine(restoringFrom: FilePath(directory), serialOutput: sink) { _ in }
        #expect(restored.run() == .debugExit(0), "\(sink.text)")
        #expect(sink.text.contains("poke=0x7777"), "\(sink.text)")
        #expect(!sink.text.contains("CPUs online"), "the restored machine starts over: \(sink.text)")
    }

    /// A hardware breakpoint (debug registers, not an int3 in guest memory) stops the guest.
    @Test func hardwareBreakpointStopsTheGuest() throws {
        try requireHost(\.hardwareBreakpoints, "hardware breakpoints")
        let vm = try DebuggedMachine(cpus: 1)
        let elf = try temporaryFile(gdbTargetGuest, name: "gdb-target-hbreak.elf")
        let port = try #require(vm.machine.gdbPort)
        let output = try GDB.run(elf: elf, commands: ["set architecture i386:x86-64", "target remote :\(port)",
                                                      "hbreak gdb_second", "continue", "info registers rip", "detach"])
        #expect(output.contains("Breakpoint 1, ") && output.contains("in gdb_second ()"), "\(output)")
        #expect(output.contains("<gdb_second+"), "\(output)")
        #expect(vm.outcome() == .debugExit(0))
    }

    /// While gdb holds the machine, the guest's TSC stands still too (the stub moves the
    /// TSC offset back by the time held).
    @Test func guestTSCStandsStillWhileGDBHoldsTheMachine() throws {
        try requireHost(\.tscAdjustable, "a TSC offset the VMM can move")
        let vm = try DebuggedMachine(cpus: 1)
        let elf = try temporaryFile(gdbTargetGuest, name: "gdb-target-tsc.elf")
        let port = try #require(vm.machine.gdbPort)
        _ = try GDB.run(elf: elf, commands: ["set architecture i386:x86-64", "target remote :\(port)",
                                             "break gdb_checkpoint", "continue", "shell sleep 1", "detach"])
        #expect(vm.outcome() == .debugExit(0))
        let microseconds = try #require(Self.value("elapsed_us", in: vm.sink.text), "\(vm.sink.text)")
        #expect(microseconds < 300_000, "guest TSC saw \(microseconds) µs pass while stopped")
    }

    /// gdb with an access watchpoint on gdb_poke, run to the guest's end.
    func watchGDBPoke(_ name: String) throws -> (output: String, outcome: Outcome?) {
        let vm = try DebuggedMachine(cpus: 1)
        let elf = try temporaryFile(gdbTargetGuest, name: "\(name).elf")
        let port = try #require(vm.machine.gdbPort)
        let output = try GDB.run(elf: elf, commands: ["set architecture i386:x86-64", "target remote :\(port)",
                                                      "awatch *(unsigned int *)&gdb_poke", "continue",
                                                      "info registers rip", "delete", "detach"])
        return (output, vm.outcome())
    }

    /// Watchpoints are data breakpoints in the debug registers: an access watchpoint stops
    /// the guest where it reads gdb_poke.
    @Test func watchpointStopsTheGuest() throws {
        try requireHost(\.watchpoints, "data breakpoints")
        let (output, outcome) = try watchGDBPoke("gdb-target-watch")
        #expect(output.contains("Value = "), "\(output)")
        #expect(output.contains("<gdb_second+"), "\(output)")
        #expect(outcome == .debugExit(0), "\(String(describing: outcome))")
    }

    /// Where the host cannot deliver data breakpoints, the stub refuses a watchpoint rather
    /// than pretending: gdb reports it could not insert it, and the guest runs to its end.
    @Test func watchpointIsRefusedWhereTheHostCannotDeliverIt() throws {
        let support = try #require(Self.hostSupport, "probing KVM guest debugging failed")
        if support.watchpoints { try Test.cancel("this host's KVM delivers data breakpoints (watchpointStopsTheGuest covers it)") }
        let (output, outcome) = try watchGDBPoke("gdb-target-nowatch")
        #expect(output.contains("Could not insert hardware watchpoint") || output.contains("Couldn't write debug register"), "\(output)")
        #expect(outcome == .debugExit(0), "\(String(describing: outcome))")
    }

    /// gdb attaching to a running guest (no --gdb-wait) stops it, sees every vCPU, and
    /// detaching lets it run on.
    @Test func attachingToARunningGuestStopsIt() throws {
        let vm = try DebuggedMachine(guest: spinGuest, name: "spin", cpus: 2, wait: false)
        let elf = try temporaryFile(spinGuest, name: "spin.elf")
        let port = try #require(vm.machine.gdbPort)
        #expect(vm.waitForOutput("spinning\n"), "the guest never reached its spin loop")
        let output = try GDB.run(elf: elf, commands: ["set architecture i386:x86-64", "target remote :\(port)",
                                                      "info threads", "detach"])
        #expect(output.contains("Thread 1 (vCPU 0 (running)) "), "\(output)")
        #expect(output.contains("in main ()") || output.contains("in _start ()"), "\(output)")
        #expect(output.contains("Thread 2 (vCPU 1 (waiting for start-up))"), "\(output)")
        #expect(output.contains("Remote target) detached"), "\(output)")
        Thread.sleep(forTimeInterval: 0.2)
        vm.machine.stop()
        #expect(vm.outcome() == .stopped(signal: 0), "the guest kept running after detach")
    }
}

enum GDB {
    static let path = "/usr/bin/gdb"

    /// Runs gdb in batch mode on `elf` with each command as `-ex`; returns stdout + stderr.
    static func run(elf: String, commands: [String], timeout: Double = 60) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = ["-batch", "-nx", "-q"] + commands.flatMap { ["-ex", $0] } + [elf]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let timer = DispatchWorkItem { process.terminate() }
        DispatchQueue.global().asyncAfter(deadline: .now() + timeout, execute: timer)
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        timer.cancel()
        return String(decoding: data, as: UTF8.self)
    }
}

/// The stub over a raw socket: acks, Ctrl-C while running, corrupt and malformed packets.
@Suite(.enabled(if: KVMHost.available, "\(KVMHost.unavailableReason ?? "")"))
struct GDBWireTests {
    /// A TCP client that speaks just enough of the protocol.
    final class Client {
        let socket: Int32
        private var received: [UInt8] = []

        init(port: UInt16) throws {
            socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = port.bigEndian
            address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
            var timeout = timeval(tv_sec: 10, tv_usec: 0)
            setsockopt(socket, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            let result = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(socket, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            guard result == 0 else { throw POSIXError(.ECONNREFUSED) }
        }

        deinit { close(socket) }

        func send(raw bytes: [UInt8]) { _ = bytes.withUnsafeBytes { write(socket, $0.baseAddress, $0.count) } }
        func send(_ payload: String) { send(raw: GDBPacket.encode(payload)) }

        /// The next event from the stub: "+", "-" or a packet's payload; nil on time-out.
        func next() -> String? {
            var decoder = GDBPacketDecoder()
            while true {
                while !received.isEmpty {
                    let byte = received.removeFirst()
                    switch decoder.feed(byte) {
                    case .ack?: return "+"
                    case .nack?: return "-"
                    case .packet(let payload)?: return String(decoding: payload, as: UTF8.self)
                    default: continue
                    }
                }
                var buffer = [UInt8](repeating: 0, count: 4096)
                let count = buffer.withUnsafeMutableBytes { read(socket, $0.baseAddress, $0.count) }
                guard count > 0 else { return nil }
                received += buffer[..<count]
            }
        }

        /// Sends a packet and returns the reply after the stub's ack.
        func request(_ payload: String) -> String? {
            send(payload)
            guard next() == "+" else { return nil }
            let reply = next()
            send(raw: Array("+".utf8))
            return reply
        }
    }

    @Test func interruptAndMalformedPacketsOverTheWire() throws {
        let vm = try GDBStubIntegrationTests.DebuggedMachine(guest: spinGuest, name: "spin", cpus: 2, wait: false)
        let port = try #require(vm.machine.gdbPort)
        let client = try Client(port: port)
        #expect(client.request("?") == "T05thread:1;")
        #expect(client.request("qfThreadInfo") == "m1,2")

        // Resume, then Ctrl-C: all-stop with SIGINT, naming a thread.
        client.send("vCont;c")
        #expect(client.next() == "+")
        Thread.sleep(forTimeInterval: 0.2)
        client.send(raw: [0x03])
        let stop = client.next()
        #expect(stop?.hasPrefix("T02thread:") == true, "\(stop ?? "nil")")
        client.send(raw: Array("+".utf8))

        // A bad checksum is refused with "-"; the stub keeps going.
        client.send(raw: Array("$g#00".utf8))
        #expect(client.next() == "-")
        // Malformed requests get errors, unknown ones the empty reply.
        #expect(client.request("mzz,4") == "E01")
        #expect(client.request("m100000,ffffff") == "E01")
        #expect(client.request("Z0,,") == "E01")
        #expect(client.request("Hg77") == "E01")
        #expect(client.request("P9999=00") == "E01")
        #expect(client.request("qNoSuchThing") == "")
        // A "-" from gdb makes the stub send its last packet again.
        client.send("qC")
        #expect(client.next() == "+")
        let current = client.next()
        client.send(raw: Array("-".utf8))
        #expect(client.next() == current)
        client.send(raw: Array("+".utf8))
        // Still serving: registers of the stopped vCPU are readable.
        #expect(client.request("g")?.count ?? 0 > 100)
        #expect(client.request("D") == "OK")
        Thread.sleep(forTimeInterval: 0.1)
        vm.machine.stop()
        #expect(vm.outcome() == .stopped(signal: 0))
    }

    @Test func guestEndingWhileAttachedTellsGDBTheExitStatus() throws {
        let vm = try GDBStubIntegrationTests.DebuggedMachine(guest: helloGuest, name: "hello", cpus: 1, wait: true)
        let port = try #require(vm.machine.gdbPort)
        let client = try Client(port: port)
        #expect(client.request("?") == "T05thread:1;")
        client.send("c")
        #expect(client.next() == "+")
        // Debug exit 0 is process status 1: "W01".
        #expect(client.next() == "W01")
        #expect(vm.outcome() == .debugExit(0))
        #expect(vm.sink.text == "Hello, world!\n")
    }
}
