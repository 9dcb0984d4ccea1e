import ArgumentParser
import Foundation
import SwiftVMM
import SwiftVMMHarness

struct Test: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "swiftvmm test",
        abstract: "Run a test-suite manifest: boot each case's kernel (or fork a shared snapshot), check its serial lines and how it ends.",
        discussion: """
            The manifest is JSON, or YAML when its name ends in .yaml or .yml: \
            {"kernelDirectory": DIR, "snapshot": SNAPSHOT, "cases": [CASE...]}. kernelDirectory \
            (default: the manifest's folder) is relative to the manifest's folder; --kernel-dir \
            replaces it. Each CASE has:
              name      unique; names the case in reports, logs and JUnit (required)
              kernel    kernel file, relative to the kernel directory (or input)
              input     instead of kernel: run on a fork of the snapshot, typing this
                        line (and a newline) into COM1; such a case gives none of
                        kernel, cmdline, modules, cpus, memory, irqchip
              cmdline   kernel command line (default "")
              modules   ["PATH[=STRING]", ...], PATH relative to the kernel directory
              cpus      vCPUs (default 1)
              memory    MiB, or a size with K, M, G, T (default "256M")
              irqchip   "user" (default) or "kernel"
              expect    regular expressions, each searched for in one complete serial
                        line, in this order (use ^...$ to match a whole line)
              outcome   debug-exit N (default 0), powered-off, exit-status N, guest-fault,
                        deadlock, reset or timed-out
              timeout   seconds (default 30)
              repeat    runs of the case (default 1)
            Unknown keys are errors. SNAPSHOT has kernel, cmdline, modules, cpus, memory
            and irqchip as a CASE does, and:
              at        regular expression (required): the snapshot is taken a moment
                        after the first serial line that matches
              timeout   seconds the boot may take to print that line (default 30)
            When a selected case gives input, the snapshot's kernel boots once, first;
            every such case and repeat then starts from its own fork of the snapshot,
            sharing the untouched RAM (its log begins after the `at` line). If no
            snapshot is taken, those runs fail saying why. With --output the
            snapshot boot's serial log is DIR/snapshot.log.

            Cases run in parallel, --jobs at a time. --shard K/N sorts the cases by name \
            (byte order) and runs those whose 0-based position is K-1 modulo N, so the N \
            shards partition the suite. With --output DIR each run's serial log is kept as \
            DIR/NAME.log (DIR/NAME.K.log for run K of a repeating case), and a last \
            footer says how the run ended.

            EXIT STATUS
              0          every run passed (or the shard has no cases)
              1          a run failed: unexpected outcome, an expected line not seen
                         in order, time limit, kernel not bootable
              2          bad command line or manifest (the message names the file
                         and the problem), a missing kernel or module, an
                         unwritable --output or --junit
              130, 143   interrupted by SIGINT, SIGTERM (runs so far are reported)
            """
    )

    @Argument(help: "The manifest (JSON, or YAML if named *.yaml or *.yml).")
    var manifest: String

    @Option(help: "Machines run at once (default: the host CPUs this process may use, here \(Runner.defaultJobs)).")
    var jobs: Int?

    @Option(name: .customLong("repeat"), help: ArgumentHelp("Run every case N times (replacing its repeat) and report each case's pass rate.", valueName: "N"))
    var repeatCount: Int?

    @Option(help: ArgumentHelp("Run only slice K of N of the cases (see the description).", valueName: "K/N"))
    var shard: ShardArgument?

    @Option(help: ArgumentHelp("Write a JUnit XML report to FILE.", valueName: "FILE"))
    var junit: String?

    @Option(help: ArgumentHelp("Keep each run's serial log in DIR (created if missing).", valueName: "DIR"))
    var output: String?

    @Option(name: .customLong("kernel-dir"), help: ArgumentHelp("Find kernels and modules in DIR instead of the manifest's kernelDirectory.", valueName: "DIR"))
    var kernelDirectory: String?

    func validate() throws {
        if let jobs, jobs < 1 { throw ValidationError("--jobs must be at least 1") }
        if let repeatCount, repeatCount < 1 { throw ValidationError("--repeat must be at least 1") }
    }

    func run() async throws {
        let loaded: Manifest
        do { loaded = try Manifest.load(path: manifest) } catch {
            printError("swiftvmm: \(error)")
            throw ExitCode(ExitStatus.usage)
        }
        let runner = Runner(manifest: loaded, options: .init(
            jobs: jobs ?? Runner.defaultJobs, repeatCount: repeatCount, shard: shard?.value, kernelDirectory: kernelDirectory, outputDirectory: output))
        do { try runner.prepare(manifestPath: manifest) } catch {
            printError("swiftvmm: \(error)")
            throw ExitCode(ExitStatus.usage)
        }
        if let junit, !FileManager.default.createFile(atPath: junit, contents: nil) {
            printError("swiftvmm: \(junit): cannot write the JUnit report")
            throw ExitCode(ExitStatus.usage)
        }

        let progress = ProgressLine(total: runner.plannedRuns)
        let task = Task { await runner.run { progress.record($0) } }
        let interruption = CancelOnSignal { task.cancel() }
        let report = await task.value
        let signal = interruption.received
        interruption.stop()
        progress.finish()

        print(report.summary, terminator: "")
        if let junit {
            let name = URL(fileURLWithPath: manifest).deletingPathExtension().lastPathComponent
            do { try JUnitXML.document(for: report, suiteName: name).write(toFile: junit, atomically: true, encoding: .utf8) } catch {
                printError("swiftvmm: \(junit): cannot write the JUnit report: \(error)")
                throw ExitCode(ExitStatus.usage)
            }
        }
        if let signal { throw ExitCode(128 + signal) }
        throw ExitCode(report.passed ? 0 : 1)
    }
}

struct ShardArgument: ExpressibleByArgument {
    let value: Shard
    init?(argument: String) {
        guard let value = Shard(argument) else { return nil }
        self.value = value
    }
}
