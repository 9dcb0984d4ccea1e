import Foundation
import Testing
@testable import SwiftVMMHarness

/// Reading manifests: defaults, every key, and errors that name the file and the problem.
struct ManifestTests {
    func load(_ json: String, extension: String = "json") throws(ManifestError) -> Manifest {
        let path = testScratch.appending(path: "manifest-\(UUID()).\(`extension`)").path
        _ = FileManager.default.createFile(atPath: path, contents: Data(json.utf8))
        defer { try? FileManager.default.removeItem(atPath: path) }
        return try Manifest.load(path: path)
    }

    func problem(_ json: String) -> String? {
        do { _ = try load(json); return nil } catch { return error.problem }
    }

    @Test func defaultsAndEveryKey() throws {
        let manifest = try load("""
            {"kernelDirectory": "k", "cases": [
              {"name": "a", "kernel": "a.elf"},
              {"name": "b", "kernel": "/abs/b.elf", "cmdline": "x y", "modules": ["m=s"], "cpus": 3, "memory": "1G",
               "irqchip": "kernel", "expect": ["^one$", "two"], "outcome": "exit-status 0x10", "timeout": 1.5, "repeat": 4}
            ]}
            """)
        let a = manifest.cases[0], b = manifest.cases[1]
        let aBoot = try #require(a.boot), bBoot = try #require(b.boot)
        #expect(aBoot.cpus == 1 && aBoot.memorySize == 256 << 20 && a.outcome == .debugExit(0) && a.timeout == .seconds(30))
        #expect(a.repeatCount == 1 && a.expect.isEmpty && aBoot.commandLine == "" && aBoot.interruptController == .userspace)
        #expect(bBoot.kernel == "/abs/b.elf" && bBoot.commandLine == "x y" && bBoot.modules == ["m=s"] && bBoot.cpus == 3)
        #expect(bBoot.memorySize == 1 << 30 && manifest.snapshot == nil)
        #expect(bBoot.interruptController == .kernel && b.expect == ["^one$", "two"] && b.outcome == .exitStatus(16))
        #expect(b.timeout == .milliseconds(1500) && b.repeatCount == 4)
        #expect(manifest.kernelDirectory() == URL(fileURLWithPath: manifest.baseDirectory).appending(path: "k").standardizedFileURL.path)
        #expect(manifest.kernelDirectory(override: "/elsewhere") == "/elsewhere")
    }

    @Test func yamlReadsAsJSONDoes() throws {
        let yaml = try load("""
            kernelDirectory: k
            cases:
              - name: b
                kernel: b.elf
                cmdline: x y
                memory: 64
                expect: ["^one$", 'tw(o)']
                outcome: powered-off
                timeout: 0.5
                repeat: 2
            """, extension: "yaml")
        let json = try load(#"""
            {"kernelDirectory": "k", "cases": [{"name": "b", "kernel": "b.elf", "cmdline": "x y", "memory": 64,
             "expect": ["^one$", "tw(o)"], "outcome": "powered-off", "timeout": 0.5, "repeat": 2}]}
            """#)
        #expect(yaml.cases == json.cases && yaml.kernelDirectory == json.kernelDirectory)
        #expect(throws: ManifestError.self) { try load("cases:\n  - name: a\n    kernal: x\n", extension: "yml") }
    }

    @Test func memoryAsANumberIsMiB() throws {
        #expect(try load(#"{"cases": [{"name": "a", "kernel": "a", "memory": 64}]}"#).cases[0].boot?.memorySize == 64 << 20)
    }

    @Test func errorsNameWhereAndWhat() {
        #expect(problem(#"{"cases": [{"name": "a", "kernel": "a", "expct": []}]}"#)?.hasPrefix("cases[0].expct: unknown key") == true)
        #expect(problem(#"{"cases": [], "timeout": 3}"#)?.hasPrefix("timeout: unknown key") == true)
        #expect(problem(#"{"cases": [{"name": "a"}]}"#) == #"cases[0]: missing key "kernel" (or "input", to fork from the manifest's snapshot)"#)
        #expect(problem(#"{"cases": [{"name": "a", "kernel": "a", "cpus": "two"}]}"#) == "cases[0].cpus: expected a number")
        #expect(problem(#"{"cases": [{"name": "a", "kernel": "a", "outcome": "exploded"}]}"#)?
            .hasPrefix(#"cases[0].outcome: "exploded" is not one of: debug-exit N"#) == true)
        #expect(problem(#"{"cases": [{"name": "a", "kernel": "a", "expect": ["("]}]}"#)?
            .hasPrefix(#"cases[0].expect: pattern 1 "(" is not a regular expression"#) == true)
        #expect(problem(#"{"cases": [{"name": "a", "kernel": "a", "timeout": 0}]}"#)?.hasPrefix("cases[0].timeout:") == true)
        #expect(problem(#"{"cases": [{"name": "a", "kernel": "a", "repeat": 0}]}"#)?.hasPrefix("cases[0].repeat:") == true)
        #expect(problem(#"{"cases": [{"name": "a", "kernel": "a", "memory": "lots"}]}"#)?.hasPrefix("cases[0].memory:") == true)
        #expect(problem(#"{"cases": [{"name": "a", "kernel": "a"}, {"name": "a", "kernel": "b"}]}"#)
            == #"cases[1].name: "a" is used by an earlier case"#)
        #expect(problem(#"{"cases": [ }"#)?.hasPrefix("not valid JSON") == true)
    }

    /// A snapshot boot, and cases that fork from it by giving input instead of a kernel.
    @Test func casesWithInputForkFromTheSnapshot() throws {
        let manifest = try load(#"""
            {"snapshot": {"kernel": "s.elf", "cpus": 4, "memory": 128, "irqchip": "kernel", "at": "^READY$", "timeout": 5},
             "cases": [{"name": "a", "input": "ipi", "timeout": 2, "repeat": 3}, {"name": "b", "kernel": "b.elf"}]}
            """#)
        let snapshot = try #require(manifest.snapshot)
        #expect(snapshot.boot.kernel == "s.elf" && snapshot.boot.cpus == 4 && snapshot.boot.memorySize == 128 << 20)
        #expect(snapshot.boot.interruptController == .kernel && snapshot.at == "^READY$" && snapshot.timeout == .seconds(5))
        #expect(manifest.cases[0].start == .snapshot(input: "ipi") && manifest.cases[0].boot == nil)
        #expect(manifest.cases[0].timeout == .seconds(2) && manifest.cases[0].repeatCount == 3)
        #expect(manifest.cases[1].boot == Manifest.Boot(kernel: "b.elf"))
    }

    @Test func snapshotErrorsNameWhereAndWhat() {
        #expect(problem(#"{"cases": [{"name": "a", "kernel": "k"}, {"name": "b", "input": "x"}]}"#)
            == #"cases[1].input: a case with input forks from the manifest's "snapshot", and there is none"#)
        #expect(problem(#"{"snapshot": {"kernel": "s", "at": "R"}, "cases": [{"name": "a", "input": "x", "cpus": 2}]}"#)?
            .hasPrefix("cases[0].input: a case with input forks from the manifest's snapshot, so it gives none of kernel, cmdline") == true)
        #expect(problem(#"{"snapshot": {"kernel": "s"}, "cases": []}"#) == nil)   // taken at the snapshot port
        #expect(problem(#"{"snapshot": {"at": "R"}, "cases": []}"#) == #"snapshot: missing key "kernel""#)
        #expect(problem(#"{"snapshot": {"kernel": "s", "at": "("}, "cases": []}"#)?
            .hasPrefix(#"snapshot.at: "(" is not a regular expression"#) == true)
        #expect(problem(#"{"snapshot": {"kernel": "s", "at": "R", "input": "x"}, "cases": []}"#)?.hasPrefix("snapshot.input: unknown key") == true)
        #expect(problem(#"{"snapshot": {"kernel": "s", "at": "R", "timeout": -1}, "cases": []}"#)?.hasPrefix("snapshot.timeout: must be") == true)
    }

    @Test func missingFileIsNamed() {
        #expect(throws: ManifestError.self) { try Manifest.load(path: "/nonexistent/suite.json") }
        do { _ = try Manifest.load(path: "/nonexistent/suite.json") } catch {
            #expect(error.description.hasPrefix("/nonexistent/suite.json: cannot read"))
        }
    }

    @Test func expectedOutcomes() {
        #expect(ExpectedOutcome("debug-exit 3") == .debugExit(3))
        #expect(ExpectedOutcome("debug-exit 0x7f") == .debugExit(0x7F))
        #expect(ExpectedOutcome("debug-exit") == nil)
        #expect(ExpectedOutcome("debug-exit -1") == nil)
        #expect(ExpectedOutcome("powered-off")?.matches(.poweredOff) == true)
        #expect(ExpectedOutcome("powered-off")?.matches(.reset) == false)
        #expect(ExpectedOutcome("exit-status 7")?.matches(.debugExit(3)) == true, "(3 << 1) | 1")
        #expect(ExpectedOutcome("exit-status 124")?.matches(.timedOut) == true)
        #expect(ExpectedOutcome("debug-exit 0")?.matches(.debugExit(1)) == false)
    }

    /// K/N slices of any case order partition the cases, each within one of the others' size.
    @Test(arguments: 1...6)
    func shardsPartitionTheCases(_ count: Int) throws {
        let cases = (0..<23).map { Manifest.TestCase(name: "case-\(($0 * 7) % 23)", kernel: "k") }
        let slices = (1...count).map { Shard(index: $0, count: count)!.select(cases).map(\.name) }
        let all = slices.flatMap { $0 }
        #expect(all.count == cases.count)
        #expect(Set(all) == Set(cases.map(\.name)))
        #expect(slices.map(\.count).max()! - slices.map(\.count).min()! <= 1)
        let reversed = (1...count).map { Shard(index: $0, count: count)!.select(cases.reversed()).map(\.name) }
        #expect(slices == reversed, "the slice does not depend on the manifest's order")
    }

    @Test func shardArguments() {
        #expect(Shard("2/3") == Shard(index: 2, count: 3))
        #expect(Shard("0/3") == nil)
        #expect(Shard("4/3") == nil)
        #expect(Shard("1/0") == nil)
        #expect(Shard("1") == nil)
        #expect(Shard("a/b") == nil)
    }

    @Test func logNamesAreSafeAndUnique() {
        let cases = ["a/b", "a_b", "..x", "ok-1.2"].map { Manifest.TestCase(name: $0, kernel: "k") }
        let names = LogNames(cases: cases)
        #expect(cases.map { names.file(for: $0, iteration: 1) } == ["a_b.log", "a_b~2.log", "_.x.log", "ok-1.2.log"])
        var repeating = cases[3]
        repeating.repeatCount = 3
        #expect(names.file(for: repeating, iteration: 2) == "ok-1.2.2.log")
    }

    @Test func passRateAndVerdictPerCase() {
        func run(_ iteration: Int, passed: Bool) -> RunResult {
            RunResult(caseName: "boot", iteration: iteration, repeatCount: 3, outcome: .debugExit(passed ? 0 : 1),
                      failures: passed ? [] : [.outcomeMismatch(expected: .debugExit(0), actual: .debugExit(1))],
                      duration: .milliseconds(10 * iteration), logPath: nil, lastLines: [], messages: [])
        }
        let report = Report(results: [run(1, passed: true), run(2, passed: false), run(3, passed: true)], cases: ["boot"],
                            plannedRuns: ["boot": 3], wallTime: .seconds(1), jobs: 2, shard: nil)
        let summary = report.caseSummaries[0]
        #expect(summary.verdict == "FLAKY")
        #expect(abs(summary.passRate - 2.0 / 3.0) < 1e-9)
        #expect(summary.medianDuration == .milliseconds(20))
        #expect(!report.passed)
        #expect(report.summary.contains("boot  FLAKY    2/3      66.7%"))
        #expect(report.summary.contains("FAIL boot (2/3): expected debug-exit 0, got: guest wrote 0x1 to the debug-exit port"))
    }

    @Test func junitEscapesMarkupAndControlCharacters() {
        #expect(JUnitXML.escape("a<b>&\"c'\u{1B}[0m\n") == "a&lt;b&gt;&amp;&quot;c&apos;\u{FFFD}[0m\n")
    }
}
