import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import Testing
import TestGuests
@testable import SwiftVMM
@testable import SwiftVMMHarness

/// `swiftvmm test` and the runner library on real guests: the project's own guests/suite.json,
/// JUnit XML, sharding, --repeat pass rates, a failing case, a bad manifest, a 50-case suite.
@Suite(.enabled(if: KVMHost.available, "\(KVMHost.unavailableReason ?? "")"))
struct HarnessRunTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()
    static let suite = repository.appending(path: "guests/suite.json").path

    /// The embedded test kernels as guests/build.sh names them (NAME.elf), in a fresh folder.
    static let kernels: String = {
        let guests: [String: [UInt8]] = [
            "hello": helloGuest, "hello-mb2": helloMb2Guest, "mbinfo": mbinfoGuest, "mbinfo2": mbinfo2Guest,
            "elf64entry": elf64entryGuest, "fault": faultGuest, "halt": haltGuest, "spin": spinGuest, "power": powerGuest,
            "msr-platform-info": msrPlatformInfoGuest, "msr-table": msrTableGuest, "cpuid-topology": cpuidTopologyGuest,
            "demo": demoGuest, "smp-ipi": smpIpiGuest, "smp-ipi-x2apic": smpIpiX2ApicGuest, "smp-broadcast": smpBroadcastGuest,
        ]
        let directory = scratchDirectory("kernels")
        for (name, bytes) in guests {
            _ = FileManager.default.createFile(atPath: directory + "/\(name).elf", contents: Data(bytes))
        }
        return directory
    }()

    static func scratchDirectory(_ name: String) -> String {
        let url = testScratch.appending(path: "harness/\(name)-\(UUID())")
        try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url.path
    }

    static func writeManifest(_ json: String) -> String {
        let path = scratchDirectory("manifest") + "/suite.json"
        _ = FileManager.default.createFile(atPath: path, contents: Data(json.utf8))
        return path
    }

    /// The JUnit file's test case names, after checking it parses and its counts agree.
    func junitCases(_ path: String, failures expectedFailures: Int) throws -> [String] {
        let document = try XMLDocument(contentsOf: URL(fileURLWithPath: path), options: [])
        let suite = try #require(try document.nodes(forXPath: "/testsuites/testsuite").first as? XMLElement)
        let cases = try document.nodes(forXPath: "/testsuites/testsuite/testcase").compactMap { $0 as? XMLElement }
        let failures = try document.nodes(forXPath: "//testcase/failure")
        #expect(suite.attribute(forName: "tests")?.stringValue == "\(cases.count)")
        #expect(suite.attribute(forName: "failures")?.stringValue == "\(expectedFailures)")
        #expect(failures.count == expectedFailures)
        return cases.compactMap { $0.attribute(forName: "name")?.stringValue }
    }

    /// The example manifest through the library: every case passes, each log is kept.
    @Test func exampleSuiteThroughTheLibrary() async throws {
        let manifest = try Manifest.load(path: Self.suite)
        let output = Self.scratchDirectory("logs")
        let runner = Runner(manifest: manifest, options: .init(jobs: 2, kernelDirectory: Self.kernels, outputDirectory: output))
        try runner.prepare(manifestPath: Self.suite)
        let report = await runner.run()
        #expect(report.passed, "\(report.summary)")
        #expect(report.results.count == manifest.cases.count)
        #expect(report.results.map(\.caseName) == manifest.cases.map(\.name).sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) })
        let hello = try String(contentsOfFile: output + "/hello.log", encoding: .utf8)
        #expect(hello.hasPrefix("Hello, world!\n"))
        #expect(hello.contains("--- swiftvmm: guest wrote 0x0 to the debug-exit port"))
        let xml = JUnitXML.document(for: report, suiteName: "suite")
        let junit = Self.scratchDirectory("junit") + "/junit.xml"
        try xml.write(toFile: junit, atomically: true, encoding: .utf8)
        #expect(try junitCases(junit, failures: 0).count == manifest.cases.count)
    }

    /// The same manifest through `swiftvmm test` in two shards: together they run every
    /// case once, and each writes a JUnit file that says so.
    @Test func exampleSuiteInTwoShardsThroughTheCommand() throws {
        let manifest = try Manifest.load(path: Self.suite)
        var names: [[String]] = []
        for shard in 1...2 {
            let junit = Self.scratchDirectory("junit") + "/shard\(shard).xml"
            let result = try swiftvmm(["test", Self.suite, "--kernel-dir", Self.kernels, "--jobs", "2",
                                       "--shard", "\(shard)/2", "--junit", junit])
            #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
            #expect(result.stdout.contains("shard \(shard)/2"))
            names.append(try junitCases(junit, failures: 0))
        }
        #expect(Set(names[0]).isDisjoint(with: names[1]))
        #expect(Set(names[0] + names[1]) == Set(manifest.cases.map(\.name)))
        #expect(abs(names[0].count - names[1].count) <= 1)
    }

    /// --repeat reports a pass rate per case; a wrong expected line fails its case, names
    /// the pattern and the log, and makes the exit status 1.
    @Test func repeatAndAFailingCase() throws {
        let manifest = Self.writeManifest("""
            {"kernelDirectory": "\(Self.kernels)", "cases": [
              {"name": "hello", "kernel": "hello.elf", "expect": ["^Hello, world!$"]},
              {"name": "wrong-line", "kernel": "hello.elf", "expect": ["^Hello, world!$", "^Goodbye!$"]},
              {"name": "wrong-outcome", "kernel": "power.elf", "cmdline": "cf9", "outcome": "powered-off"}
            ]}
            """)
        let output = Self.scratchDirectory("logs")
        let junit = output + "/junit.xml"
        let result = try swiftvmm(["test", manifest, "--repeat", "3", "--output", output, "--junit", junit])
        #expect(result.status == 1)
        #expect(result.stdout.contains("hello          PASS     3/3     100.0%"), "\(result.stdout)")
        #expect(result.stdout.contains("wrong-line     FAIL     0/3       0.0%"), "\(result.stdout)")
        #expect(result.stdout.contains("FAIL wrong-line (2/3): expected line 2 /^Goodbye!$/ not seen: the run ended first (guest wrote 0x0 to the debug-exit port)"))
        #expect(result.stdout.contains("log: \(output)/wrong-line.2.log"))
        #expect(result.stdout.contains("FAIL wrong-outcome (1/3): expected powered-off, got: guest requested a reset"))
        #expect(result.stdout.contains("3 cases, 9 runs: 3 passed, 6 failed (2 cases failing)"))
        #expect(result.stderr.contains("[9/9]"), "a progress line per finished run when stderr is not a terminal")
        let names = try junitCases(junit, failures: 6)
        #expect(names.count == 9)
        #expect(names.contains("wrong-line (3/3)"))
        let log = try String(contentsOfFile: output + "/wrong-line.3.log", encoding: .utf8)
        #expect(log.contains("Hello, world!\n") && log.contains("FAIL"))
    }

    /// SIGINT stops the running machines at once and still reports the runs so far.
    @Test func interruptReportsAndExits130() throws {
        let manifest = Self.writeManifest("""
            {"kernelDirectory": "\(Self.kernels)", "cases": [
              {"name": "hello", "kernel": "hello.elf"},
              {"name": "spin-a", "kernel": "spin.elf", "timeout": 60}, {"name": "spin-b", "kernel": "spin.elf", "timeout": 60},
              {"name": "spin-c", "kernel": "spin.elf", "timeout": 60}
            ]}
            """)
        let clock = ContinuousClock()
        let started = clock.now
        let result = try swiftvmm(["test", manifest, "--jobs", "2"], signal: SIGINT, signalAfter: "[1/4]",
                                  signalAfterStderr: true)   // hello finished; spin-a (and maybe spin-b) run
        #expect(clock.now - started < .seconds(10))
        #expect(result.status == 130)
        #expect(result.stdout.contains("FAIL spin-a: cancelled"), "\(result.stdout)")
        #expect(result.stdout.contains("spin-c  NOT RUN  0/1"), "\(result.stdout)")
        // spin-b had started, or was about to, when hello's line came out.
        #expect(result.stdout.contains("1 not run (interrupted) (2 cases failing)")
                || result.stdout.contains("2 not run (interrupted) (1 case failing)"), "\(result.stdout)")
    }

    @Test func badManifestExitsTwoNamingTheFileAndProblem() throws {
        let manifest = Self.writeManifest(#"{"cases": [{"name": "x", "kernel": "hello.elf", "outcome": "sometimes"}]}"#)
        let result = try swiftvmm(["test", manifest])
        #expect(result.status == 2)
        #expect(result.stderr.contains("\(manifest): cases[0].outcome: \"sometimes\" is not one of"), "\(result.stderr)")
        let missing = Self.writeManifest(#"{"cases": [{"name": "x", "kernel": "nowhere.elf"}]}"#)
        let missingResult = try swiftvmm(["test", missing])
        #expect(missingResult.status == 2)
        #expect(missingResult.stderr.contains("case \"x\": kernel"), "\(missingResult.stderr)")
        #expect(try swiftvmm(["test", manifest, "--shard", "3/2"]).status == 2)
    }

    /// `swiftvmm test` hands every argument, `--help` included, to the swiftvmm-test program
    /// beside it, and says which program is missing when it is not there.
    @Test func swiftvmmTestRunsTheRunnerBesideIt() throws {
        let help = try swiftvmm(["test", "--help"])
        #expect(help.status == 0)
        #expect(help.stdout.contains("USAGE: swiftvmm test <manifest>"), "\(help.stdout)")
        let alone = testScratch.appendingPathComponent("alone")
        try FileManager.default.createDirectory(at: alone, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: alone) }
        let copy = alone.appendingPathComponent("swiftvmm")
        try FileManager.default.copyItem(at: swiftvmmExecutable, to: copy)
        let result = try swiftvmm(["test", "suite.json"], executable: copy)
        #expect(result.status == 2)
        #expect(result.stderr.contains("\(alone.path)/swiftvmm-test: not found"), "\(result.stderr)")
    }

    /// The issue's bar: a 50-case manifest, run in parallel with JUnit output, and as two
    /// shards that together run each case once.
    @Test func fiftyCasesInParallelWithJUnitAndShards() throws {
        let kinds = [
            (#""kernel": "hello.elf", "expect": ["^Hello, world!$"]"#),
            (#""kernel": "hello-mb2.elf", "expect": ["^Hello from multiboot 2!$"]"#),
            (#""kernel": "mbinfo.elf", "cmdline": "n", "expect": ["^cmdline=\\[n\\]$", "^done$"]"#),
            (#""kernel": "power.elf", "cmdline": "acpi", "outcome": "powered-off""#),
            (#""kernel": "fault.elf", "expect": ["^about to fault$"], "outcome": "guest-fault""#),
            (#""kernel": "halt.elf", "cpus": 2, "outcome": "deadlock""#),
            (#""kernel": "msr-table.elf", "expect": ["^done$"]"#),
            (#""kernel": "elf64entry.elf", "expect": ["^lma=1$", "^done$"]"#),
            (#""kernel": "demo.elf", "cpus": 2, "expect": ["2 of 2 CPUs online"]"#),
            (#""kernel": "power.elf", "cmdline": "kbd", "outcome": "reset""#),
        ]
        let cases = (0..<50).map { #"{"name": "case-\#(String(format: "%02d", $0))", \#(kinds[$0 % kinds.count]), "timeout": 30}"# }
        let manifest = Self.writeManifest(#"{"kernelDirectory": "\#(Self.kernels)", "cases": [\#(cases.joined(separator: ",\n"))]}"#)
        let directory = Self.scratchDirectory("fifty")

        let clock = ContinuousClock()
        let started = clock.now
        let all = try swiftvmm(["test", manifest, "--jobs", "2", "--junit", directory + "/all.xml", "--output", directory + "/logs"])
        let elapsed = clock.now - started
        #expect(all.status == 0, "\(all.stdout)")
        #expect(try junitCases(directory + "/all.xml", failures: 0).count == 50)
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory + "/logs").count == 50)
        print("50-case manifest, --jobs 2: \(elapsed) wall for the whole command; \(all.stdout.split(separator: "\n").last ?? "")")

        var shards: [[String]] = []
        for shard in 1...3 {
            let result = try swiftvmm(["test", manifest, "--jobs", "2", "--shard", "\(shard)/3", "--junit", directory + "/\(shard).xml"])
            #expect(result.status == 0, "\(result.stdout)")
            shards.append(try junitCases(directory + "/\(shard).xml", failures: 0))
        }
        #expect(shards.map(\.count).sorted() == [16, 17, 17])
        #expect(Set(shards.flatMap { $0 }).count == 50)
        #expect(shards[0].first == "case-00" && shards[1].first == "case-01" && shards[2].first == "case-02")
    }
}
