import Foundation
import Testing
import TestGuests
@testable import SwiftVMM
@testable import SwiftVMMBoot
@testable import SwiftVMMDebug

/// `--trace` output and fault reports, checked for content: the exits a known guest must
/// make, symbols for RIP, registers and recent exits.
@Suite(.enabled(if: KVMHost.available, "\(KVMHost.unavailableReason ?? "")"))
struct TraceAndFaultReportTests {
    @Test func traceFileHasOneLinePerExitAndTheSummaryCountsThem() throws {
        let path = testScratch.appending(path: "trace.txt").path
        let sink = CollectingSink()
        var configuration = Machine.Configuration(kernel: .image(name: "hello", bytes: helloGuest), serialOutput: sink,
                                                  timeout: .seconds(20))
        configuration.trace = ExitTraceOptions(exits: .file(path), summary: true)
        let machine = try Machine(configuration)
        #expect(machine.run() == .debugExit(0))
        let lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n")

        // Every byte of "Hello, world!\n" is an `out` to COM1's THR, in order, each line
        // with time, vCPU, port, size, value and RIP.
        let serialWrites = lines.filter { $0.contains(" io-out port=0x3f8 size=1 ") }
        let bytes = serialWrites.compactMap { line in
            line.split(separator: " ").first { $0.hasPrefix("value=0x") }.flatMap { UInt8($0.dropFirst(8), radix: 16) }
        }
        #expect(bytes == Array("Hello, world!\n".utf8), "\(serialWrites)")
        let first = try #require(serialWrites.first)
        #expect(first.wholeMatch(of: /\d+\.\d{9} vcpu=0 io-out port=0x3f8 size=1 value=0x48 rip=0x[0-9a-f]+/) != nil, "\(first)")
        // The last exit is the debug-exit write of 0.
        #expect(lines.last?.contains("io-out port=0xf4 size=1 value=0x0 ") == true, "\(lines.last ?? "")")
        // Times never go backwards on one vCPU.
        let times = lines.compactMap { Double($0.split(separator: " ")[0]) }
        #expect(times == times.sorted())

        let summary = try #require(machine.traceSummary)
        let outRow = try #require(summary.split(separator: "\n").first { $0.hasPrefix("  io-out ") })
        let outCount = Int(outRow.split(separator: " ")[1])
        #expect(outCount == lines.filter { $0.contains(" io-out ") }.count, "\(summary)")
        let totalRow = try #require(summary.split(separator: "\n").first { $0.hasPrefix("  total ") })
        #expect(Int(totalRow.split(separator: " ")[1]) == lines.count, "\(summary)")
        // The PIT's tick accounting follows the exit table (hello never programs the PIT).
        #expect(summary.hasSuffix("PIT channel 0: 0 expiries, 0 delivered (0 caught up), 0 discarded\n"), "\(summary)")
    }

    @Test func faultReportNamesTheFunctionAndShowsRegistersAndRecentExits() throws {
        let (outcome, _) = try boot(faultGuest, name: "fault", cpus: 2)
        guard case .guestFault(let report) = outcome else {
            Issue.record("expected a guest fault, got \(outcome)")
            return
        }
        let faulting = report.cpus[0]
        // ud2 is in main(); the kernel's symbol table names it.
        #expect(faulting.symbol?.hasPrefix("main+0x") == true, "\(report)")
        #expect(faulting.general.count == 15)
        // The last exits: the newline of "about to fault\n" to COM1, then the fault itself.
        let exits = faulting.recentExits
        #expect(exits.count == ExitRing.capacity, "\(report)")
        #expect([.shutdown, .internalError].contains(exits.last?.kind), "\(report)")
        #expect(exits.contains { $0.kind == .ioOut && $0.detail == 0x3F8 && $0.value == 0x0A }, "\(report)")
        #expect(report.cpus[1].recentExits.isEmpty, "the AP never ran")
        let text = report.description
        #expect(text.contains("<main+0x"))
        #expect(text.contains("RAX=0x") && text.contains("R15=0x"))
        #expect(text.contains("last 16 exits"))
        #expect(text.contains("io-out port=0x3f8 size=1 value=0xa"))
    }

    @Test func commandLineTraceSummaryAndOptionErrors() throws {
        let kernel = try temporaryFile(helloGuest, name: "hello-trace.elf")
        let traced = try swiftvmm(["boot", kernel, "--trace", "summary", "--trace", "exits"])
        #expect(traced.status == 1)
        #expect(traced.stderr.contains("exit summary"), "\(traced.stderr)")
        #expect(traced.stderr.contains(" io-out port=0x3f8 size=1 value=0x48 rip=0x"), "\(traced.stderr)")
        for bad in [["--trace", "everything"], ["--gdb", "1234"], ["--gdb", "tcp::99999"], ["--gdb", "udp::1234"],
                    ["--gdb-wait"], ["--trace", "exits="]] {
            let result = try swiftvmm(["boot", kernel] + bad)
            #expect(result.status == 2, "\(bad): \(result.stderr)")
            #expect(!result.stderr.isEmpty)
        }
    }

    @Test func gdbPortInUseIsAClearError() throws {
        let first = try Machine(Machine.Configuration(kernel: .image(name: "hello", bytes: helloGuest)).with(gdb: GDBOptions(port: 0)))
        let port = try #require(first.gdbPort)
        #expect {
            _ = try Machine(Machine.Configuration(kernel: .image(name: "hello", bytes: helloGuest)).with(gdb: GDBOptions(port: port)))
        } throws: { error in
            "\(error)".contains("cannot listen on 127.0.0.1:\(port)") && "\(error)".contains("in use")
        }
    }
}

extension Machine.Configuration {
    func with(gdb: GDBOptions) -> Self {
        var copy = self
        copy.gdb = gdb
        return copy
    }
}

/// The exit ring and the symbol table, without KVM.
struct ExitRecordTests {
    @Test func ringKeepsTheLastExitsOldestFirstWithoutKicks() {
        let ring = ExitRing()
        #expect(ring.recent.isEmpty)
        ring.record(.halt)
        ring.record(.interrupted)
        #expect(ring.recent.map(\.kind) == [.hlt])
        for index in 0..<(ExitRing.capacity + 3) {
            ring.record(.unknown(reason: UInt32(index)))
        }
        let recent = ring.recent
        #expect(recent.count == ExitRing.capacity)
        #expect(recent.first?.detail == 3 && recent.last?.detail == UInt64(ExitRing.capacity + 2))
    }

    @Test func recordDescriptions() {
        #expect(ExitRecord(kind: .ioOut, detail: 0x3F8, size: 1, value: 0x48).description == "io-out port=0x3f8 size=1 value=0x48")
        #expect(ExitRecord(kind: .rdmsr, detail: 0xCE, value: 0x1A00).description == "rdmsr msr=0xce value=0x1a00")
        #expect(ExitRecord(kind: .mmioWrite, detail: 0xFEE000B0, size: 4).description == "mmio-write addr=0xfee000b0 size=4 value=0x0")
        #expect(ExitRecord(kind: .hlt).description == "hlt")
        #expect(ExitRecord(kind: .internalError, detail: 1).description == "internal-error suberror=0x1")
    }

    @Test func symbolTableNamesAddresses() throws {
        let table = ELFSymbolTable(gdbTargetGuest)
        let checkpoint = try #require(table.symbols.first { $0.name == "gdb_checkpoint" })
        #expect(checkpoint.size > 4)
        #expect(table.describe(checkpoint.address) == "gdb_checkpoint")
        #expect(table.describe(checkpoint.address + 4) == "gdb_checkpoint+0x4")
        #expect(table.describe(0x10) == nil, "below every symbol")
        #expect(ELFSymbolTable([1, 2, 3]).isEmpty)
        #expect(ELFSymbolTable(Array(gdbTargetGuest.prefix(200))).isEmpty, "truncated: no table, no trap")
    }
}
