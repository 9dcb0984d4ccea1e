// fork-bench: the in-process half of BENCHMARKS.md section 9. It loads a snapshot that
// `swiftvmm boot GUEST --snapshot-on RE --save DIR` wrote of the `snapshot-input` guest
// (which, after READY, polls COM1 for a line: port reads only), then forks it RUNS times in
// a row: each fork gets "ipi 0" typed into COM1 and runs; the guest prints "ipi 0 round
// trips" and exits. bench/fork-floor.c does the same KVM work in C.
//
//   fork-bench DIR [-n RUNS] [--each]
//
// Prints the medians of: the fork (`snapshot.fork()`: /dev/kvm opened, the VM, its devices
// and vCPUs built and restored, no thread started yet); fork to the guest's first port
// write (the first byte it writes to COM1, as the serial sink receives it); and fork to
// exit (until `run()` returned, its threads joined).
import ArgumentParser
import Foundation
import Logging
import Synchronization
import SwiftVMM
import SystemPackage

/// Keeps the time of the first byte the guest writes.
final class FirstByteClock: SerialSink {
    let first = Mutex<ContinuousClock.Instant?>(nil)

    func write(_ byte: UInt8) {
        let now = ContinuousClock.now
        first.withLock { if $0 == nil { $0 = now } }
    }
}

@main
struct ForkBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fork-bench",
        abstract: "Fork a snapshot of the snapshot-input guest RUNS times in one process and time each fork.")

    @Argument(help: "A snapshot directory of the snapshot-input guest, taken at READY.")
    var directory: String

    @Option(name: .customShort("n"), help: "Forks to time.")
    var runs = 50

    @Flag(help: "Also print each fork's times.")
    var each = false

    func run() throws {
        let snapshot = try MachineSnapshot(loading: FilePath(directory), serialOutput: NullSink())
        var quiet = Logger(label: "fork-bench")
        quiet.logLevel = .error   // not the warning, once per fork, that 4 vCPUs share 2 host CPUs
        let clock = ContinuousClock()
        var forks: [Duration] = [], writes: [Duration] = [], exits: [Duration] = []
        for run in 1...runs {
            let output = FirstByteClock()
            var configuration = snapshot.configuration
            configuration.serialOutput = output
            let started = clock.now
            let machine = try Machine(restoring: snapshot, configuration: configuration, logger: quiet)
            let built = clock.now
            machine.type(Array("ipi 0\n".utf8))
            let outcome = machine.run()
            let ended = clock.now
            guard case .debugExit(0) = outcome, let written = output.first.withLock({ $0 }) else {
                throw ValidationError("fork \(run) ended otherwise than the guest's exit after printing: \(outcome)")
            }
            forks.append(built - started)
            writes.append(written - started)
            exits.append(ended - started)
            if each {
                print("fork \(run): \(milliseconds(built - started)) ms, to the first write \(milliseconds(written - started)) ms, "
                      + "to exit \(milliseconds(ended - started)) ms")
            }
        }
        print("fork-bench: \(runs) forks of 4-vCPU snapshot-input: fork median \(milliseconds(median(forks))) ms, "
              + "to the first port write \(milliseconds(median(writes))) ms (p90 \(milliseconds(percentile(writes, 90))) ms), "
              + "to exit \(milliseconds(median(exits))) ms")
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
