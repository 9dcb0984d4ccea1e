import Foundation
import Testing
import TestGuests
@testable import SwiftVMM
@testable import SwiftVMMHarness

/// Manifests whose cases fork from one snapshot (issue 22): the runner boots the snapshot
/// kernel once, and every case with input (and every repeat) continues from a fork of it.
@Suite(.enabled(if: KVMHost.available, "\(KVMHost.unavailableReason ?? "")"))
struct SnapshotManifestTests {
    static let kernels: String = {
        let directory = HarnessRunTests.scratchDirectory("snapshot-kernels")
        for (name, bytes) in ["snapshot-input": snapshotInputGuest, "hello": helloGuest] {
            _ = FileManager.default.createFile(atPath: directory + "/\(name).elf", contents: Data(bytes))
        }
        return directory
    }()

    /// `pattern` nil: no `at`, the snapshot is taken at the guest's snapshot port write.
    static func manifest(at pattern: String?, cases: String) -> String {
        let at = pattern.map { #""at": "\#($0)", "# } ?? ""
        return HarnessRunTests.writeManifest("""
            {"kernelDirectory": "\(kernels)",
             "snapshot": {"kernel": "snapshot-input.elf", "cpus": 4, \(at)"timeout": 20},
             "cases": [\(cases)]}
            """)
    }

    /// Every case with input runs on a fork taken after READY (no fork prints it again);
    /// the repeated `mem` case finds its scratch area clean every time, so no fork saw
    /// another's writes; a case with a kernel still boots it.
    @Test func casesForkFromOneSnapshotBootedOnce() async throws {
        let path = Self.manifest(at: "^READY$", cases: """
            {"name": "exit", "input": "exit"},
            {"name": "ipi", "input": "ipi 5", "expect": ["^ipi 15 round trips$"]},
            {"name": "mem", "input": "mem", "expect": ["^mem clean$"], "repeat": 4},
            {"name": "unknown", "input": "bogus", "expect": ["^unknown test bogus$"], "outcome": "debug-exit 3"},
            {"name": "hello", "kernel": "hello.elf", "expect": ["^Hello, world!$"]}
            """)
        let output = HarnessRunTests.scratchDirectory("snapshot-logs")
        let runner = Runner(manifest: try Manifest.load(path: path), options: .init(jobs: 2, outputDirectory: output))
        try runner.prepare(manifestPath: path)
        let report = await runner.run()
        #expect(report.passed, "\(report.summary)")
        #expect(report.results.count == 8)
        #expect(report.results.filter(\.forked).map(\.caseName).sorted() == ["exit", "ipi", "mem", "mem", "mem", "mem", "unknown"])
        let snapshot = try #require(report.snapshot)
        #expect(snapshot.failure == nil && snapshot.kernel == "snapshot-input.elf")
        #expect(report.summary.contains("snapshot: snapshot-input.elf booted once to /^READY$/ in "), "\(report.summary)")
        #expect(report.summary.contains("taken; 7 runs forked from it"), "\(report.summary)")

        let boot = try String(contentsOfFile: output + "/snapshot.log", encoding: .utf8)
        #expect(boot.hasPrefix("READY\n") && boot.contains("--- swiftvmm: snapshot taken"), "\(boot)")
        for log in ["exit", "ipi", "mem.1", "mem.4", "unknown"] {
            let text = try String(contentsOfFile: output + "/\(log).log", encoding: .utf8)
            #expect(!text.contains("READY"), "\(log): a fork starts after the line the snapshot was taken at: \(text)")
            #expect(text.contains(": PASS"), "\(log): \(text)")
        }
        #expect(try String(contentsOfFile: output + "/hello.log", encoding: .utf8).hasPrefix("Hello, world!\n"))
    }

    /// Without `at`, the snapshot is taken where the guest writes the snapshot port, right
    /// after READY, and the snapshot boot ends there.
    @Test func withoutAtTheGuestsPortWriteIsWhereItIsTaken() async throws {
        let path = Self.manifest(at: nil, cases: """
            {"name": "mem", "input": "mem", "expect": ["^mem clean$"], "repeat": 2}
            """)
        let output = HarnessRunTests.scratchDirectory("snapshot-port-logs")
        let runner = Runner(manifest: try Manifest.load(path: path), options: .init(jobs: 2, outputDirectory: output))
        try runner.prepare(manifestPath: path)
        let report = await runner.run()
        #expect(report.passed, "\(report.summary)")
        #expect(report.results.filter(\.forked).count == 2)
        #expect(report.summary.contains("snapshot: snapshot-input.elf booted once to its snapshot port write in "), "\(report.summary)")
        let boot = try String(contentsOfFile: output + "/snapshot.log", encoding: .utf8)
        #expect(boot.hasPrefix("READY\n\n--- swiftvmm: snapshot taken"), "\(boot)")
    }

    /// When the snapshot's line never comes, every case that forks fails saying why, the
    /// cases with their own kernel still run, and `swiftvmm test` exits 1.
    @Test func aSnapshotNeverTakenFailsItsCasesSayingWhy() throws {
        let path = HarnessRunTests.writeManifest("""
            {"kernelDirectory": "\(Self.kernels)",
             "snapshot": {"kernel": "hello.elf", "at": "^NEVER$"},
             "cases": [{"name": "forked", "input": "exit", "repeat": 2}, {"name": "hello", "kernel": "hello.elf"}]}
            """)
        let output = HarnessRunTests.scratchDirectory("snapshot-logs")
        let result = try swiftvmm(["test", path, "--output", output])
        #expect(result.status == 1, "\(result.stdout)\(result.stderr)")
        #expect(result.stdout.contains("hello   PASS     1/1"), "\(result.stdout)")
        #expect(result.stdout.contains("forked  FAIL     0/2"), "\(result.stdout)")
        #expect(result.stdout.contains("FAIL forked (1/2): machine not started: no snapshot to fork from: the snapshot boot of hello.elf printed no line matching /^NEVER$/: the run ended first (guest wrote 0x0 to the debug-exit port)"), "\(result.stdout)")
        #expect(result.stdout.contains("snapshot: hello.elf booted once to /^NEVER$/ in "), "\(result.stdout)")
        let boot = try String(contentsOfFile: output + "/snapshot.log", encoding: .utf8)
        #expect(boot.hasPrefix("Hello, world!\n") && boot.contains("--- swiftvmm: no snapshot to fork from"), "\(boot)")
    }

    /// A missing snapshot kernel is found before anything boots (status 2), and a case that
    /// gives both input and machine keys is refused.
    @Test func badSnapshotManifestsExitTwo() throws {
        let missing = HarnessRunTests.writeManifest("""
            {"kernelDirectory": "\(Self.kernels)", "snapshot": {"kernel": "absent.elf", "at": "R"},
             "cases": [{"name": "a", "input": "exit"}]}
            """)
        let result = try swiftvmm(["test", missing])
        #expect(result.status == 2)
        #expect(result.stderr.contains("\(missing): the snapshot: kernel \(Self.kernels)/absent.elf is not a readable file"), "\(result.stderr)")
        let mixed = Self.manifest(at: "R", cases: #"{"name": "a", "input": "exit", "kernel": "hello.elf"}"#)
        let refused = try swiftvmm(["test", mixed])
        #expect(refused.status == 2)
        #expect(refused.stderr.contains("cases[0].input: a case with input forks from the manifest's snapshot"), "\(refused.stderr)")
    }
}
