// fork-bench: the in-process half of BENCHMARKS.md section 9. It loads a snapshot that
// `swiftvmm boot GUEST --snapshot-on RE --save DIR` wrote of the `snapshot-input` guest
// (which, after READY, waits for a line on COM1), then forks it RUNS times in a row: each
// fork gets "exit" typed into COM1 and runs until the guest's first port write after its
// input, the debug-exit write that ends it. bench/fork-floor.c does the same KVM work in C.
//
//   fork-bench DIR [-n RUNS]
//
// Prints the medians of: the fork (`snapshot.fork()`: a VM, its vCPUs and devices built and
// restored, no thread started yet) and fork-to-exit (until `run()` returned, its threads
// joined: a little after the write itself).
import ArgumentParser
import Foundation
import Logging
import SwiftVMM
import SystemPackage

@main
struct ForkBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fork-bench",
        abstract: "Fork a snapshot of the snapshot-input guest RUNS times in one process and time each fork.")

    @Argument(help: "A snapshot directory of the snapshot-input guest, taken at READY.")
    var directory: String

    @Option(name: .customShort("n"), help: "Forks to time.")
    var runs = 50

    func run() throws {
        let snapshot = try MachineSnapshot(loading: FilePath(directory), serialOutput: NullSink())
        var quiet = Logger(label: "fork-bench")
        quiet.logLevel = .error   // not the warning, once per fork, that 4 vCPUs share 2 host CPUs
        let clock = ContinuousClock()
        var forks: [Duration] = [], exits: [Duration] = []
        for run in 1...runs {
            let started = clock.now
            let machine = try Machine(restoring: snapshot, configuration: snapshot.configuration, logger: quiet)
            let built = clock.now
            machine.type(Array("exit\n".utf8))
            let outcome = machine.run()
            let ended = clock.now
            guard case .debugExit(0) = outcome else {
                throw ValidationError("fork \(run) ended otherwise than the guest's exit: \(outcome)")
            }
            forks.append(built - started)
            exits.append(ended - started)
        }
        print("fork-bench: \(runs) forks of 4-vCPU snapshot-input: fork median \(milliseconds(median(forks))) ms, "
              + "fork to exit median \(milliseconds(median(exits))) ms (p90 \(milliseconds(percentile(exits, 90))) ms)")
    }

    func median(_ values: [Duration]) -> Duration { percentile(values, 50) }

    func percentile(_ values: [Duration], _ p: Int) -> Duration {
        let sorted = values.sorted()
        return sorted[min(sorted.count - 1, sorted.count * p / 100)]
    }

    func milliseconds(_ duration: Duration) -> String {
        let (seconds, attoseconds) = duration.components
        return String(format: "%.3f", Double(seconds) * 1e3 + Double(attoseconds) / 1e15)
    }
}
