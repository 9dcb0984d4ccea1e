import Testing
import TestGuests
@testable import SwiftVMM

/// The `exits` guest bench/compare.sh measures exit cost with: it must make exactly the
/// number of port exits its command line asks for, or the marginal method measures nothing.
@Suite(.enabled(if: KVMHost.available, "\(KVMHost.unavailableReason ?? "")"))
struct ExitsGuestTests {
    /// Boots `exits` with `commandLine`; returns the outcome, the output and the I/O exits
    /// that were not serial output (each byte printed costs an LSR read and a THR write).
    func run(_ commandLine: String) throws -> (Outcome, String, Int) {
        let sink = CollectingSink()
        let machine = try Machine(.init(kernel: .image(name: "exits", bytes: exitsGuest), commandLine: commandLine,
                                        serialOutput: sink, timeout: .seconds(20)))
        let outcome = machine.run()
        let exits = machine.statistics.exits[0]
        let io = Int(exits[.ioIn, default: 0] + exits[.ioOut, default: 0])
        return (outcome, sink.text, io - 2 * sink.text.utf8.count)
    }

    @Test(arguments: [1, 3000])
    func makesTheRequestedNumberOfPortExits(_ count: Int) throws {
        let (outcome, output, exits) = try run("\(count)")
        let (baseOutcome, baseOutput, baseExits) = try run("0")
        #expect(outcome == .debugExit(0), "\(output)")
        #expect(baseOutcome == .debugExit(0), "\(baseOutput)")
        #expect(output.hasPrefix("exits: n=\(count) cycles_per_exit="), "\(output)")
        #expect(exits - baseExits == count, "port exits beyond serial output, minus those of a run with 0 exits")
    }
}
