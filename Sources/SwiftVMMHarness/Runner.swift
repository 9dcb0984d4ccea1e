import Foundation
import SwiftVMM

/// Runs a manifest's cases, at most `jobs` machines at once, each case `repeatCount`
/// times, and collects a `Report`.
///
///     let manifest = try Manifest.load(path: "guests/suite.json")
///     let report = await Runner(manifest: manifest, options: .init(jobs: 2)).run()
///     print(report.summary)
public struct Runner: Sendable {
    public struct Options: Sendable {
        /// Machines running at once (default: the host CPUs this process may use).
        public var jobs: Int
        /// Runs per case, replacing each case's `repeat`.
        public var repeatCount: Int?
        public var shard: Shard?
        /// Replaces the manifest's `kernelDirectory` (relative to the current directory).
        public var kernelDirectory: String?
        /// Where each run's serial log is kept (created when missing); nil: not kept.
        public var outputDirectory: String?

        public init(jobs: Int = Runner.defaultJobs, repeatCount: Int? = nil, shard: Shard? = nil,
                    kernelDirectory: String? = nil, outputDirectory: String? = nil) {
            self.jobs = jobs
            self.repeatCount = repeatCount
            self.shard = shard
            self.kernelDirectory = kernelDirectory
            self.outputDirectory = outputDirectory
        }
    }

    /// Something that happened during `run`, for a progress display.
    public enum Event: Sendable {
        case started(caseName: String, iteration: Int)
        case finished(RunResult)
    }

    /// The host CPUs this process may use (its affinity mask, as `taskset` sets it).
    public static var defaultJobs: Int { max(1, CPUAffinity.allowedCPUs().count) }

    public let manifest: Manifest
    public let options: Options

    public init(manifest: Manifest, options: Options = Options()) {
        self.manifest = manifest
        self.options = options
    }

    /// The cases this runner runs: the shard's, or all, in name order, with the repeat
    /// count applied.
    public var selectedCases: [Manifest.TestCase] {
        let all = Shard(index: 1, count: 1)!
        return (options.shard ?? all).select(manifest.cases).map {
            var testCase = $0
            if let repeatCount = options.repeatCount { testCase.repeatCount = repeatCount }
            return testCase
        }
    }

    /// Runs to do: every selected case times its repeat count.
    public var plannedRuns: Int { selectedCases.reduce(0) { $0 + $1.repeatCount } }

    /// The manifest's snapshot, when a selected case forks from it.
    var snapshotBoot: Manifest.SnapshotBoot? {
        selectedCases.contains { $0.boot == nil } ? manifest.snapshot : nil
    }

    /// Checks what must exist before anything boots: every kernel and module file, and
    /// the output folder (created). Problems name the manifest or the folder.
    public func prepare(manifestPath: String) throws(ManifestError) {
        let directory = manifest.kernelDirectory(override: options.kernelDirectory)
        let boots = selectedCases.compactMap { testCase in testCase.boot.map { ("case \"\(testCase.name)\"", $0) } }
            + (snapshotBoot.map { [("the snapshot", $0.boot)] } ?? [])
        for (owner, boot) in boots {
            for (what, path) in boot.files where !FileManager.default.isReadableFile(atPath: resolve(path, in: directory)) {
                throw ManifestError(path: manifestPath, problem: "\(owner): \(what) \(resolve(path, in: directory)) is not a readable file")
            }
        }
        if let output = options.outputDirectory {
            do { try FileManager.default.createDirectory(atPath: output, withIntermediateDirectories: true) } catch {
                throw ManifestError(path: output, problem: "cannot create the output folder: \((error as NSError).localizedDescription)")
            }
        }
    }

    /// Runs every planned run, `jobs` at a time, and reports them in case-name order. When
    /// a case forks from the manifest's snapshot, the snapshot's boot comes first.
    /// Cancelling the task stops the running machines and starts no more.
    public func run(onEvent: @escaping @Sendable (Event) -> Void = { _ in }) async -> Report {
        let clock = ContinuousClock()
        let started = clock.now
        let directory = manifest.kernelDirectory(override: options.kernelDirectory)
        let logNames = LogNames(cases: selectedCases, reserving: snapshotBoot == nil ? [] : [LogNames.snapshot])
        var snapshot: Result<MachineSnapshot, SnapshotUnavailable>?, snapshotSummary: Report.SnapshotSummary?
        if let snapshotBoot {
            let taken = await SnapshotBootRun(snapshotBoot: snapshotBoot, kernelDirectory: directory,
                                              logPath: options.outputDirectory.map { $0 + "/\(LogNames.snapshot).log" }).run()
            snapshot = taken.snapshot
            var failure: String?
            if case .failure(let reason) = taken.snapshot { failure = reason.description }
            snapshotSummary = Report.SnapshotSummary(kernel: snapshotBoot.boot.kernel, at: snapshotBoot.at, duration: taken.duration, failure: failure)
        }
        var pending = selectedCases.flatMap { testCase in
            (1...testCase.repeatCount).map { iteration in
                CaseRun(testCase: testCase, iteration: iteration, repeatCount: testCase.repeatCount, kernelDirectory: directory,
                        logPath: options.outputDirectory.map { $0 + "/" + logNames.file(for: testCase, iteration: iteration) },
                        snapshot: snapshot)
            }
        }[...]
        let jobs = max(1, options.jobs)
        let results = await withTaskGroup(of: RunResult.self, returning: [RunResult].self) { group in
            func startNext() -> Bool {
                guard !Task.isCancelled, let run = pending.popFirst() else { return false }
                onEvent(.started(caseName: run.testCase.name, iteration: run.iteration))
                group.addTask { await run.run() }
                return true
            }
            for _ in 0..<jobs {
                guard startNext() else { break }
            }
            var results: [RunResult] = []
            for await result in group {
                onEvent(.finished(result))
                results.append(result)
                _ = startNext()
            }
            return results
        }
        let order = Dictionary(uniqueKeysWithValues: selectedCases.enumerated().map { ($1.name, $0) })
        return Report(results: results.sorted { (order[$0.caseName]!, $0.iteration) < (order[$1.caseName]!, $1.iteration) },
                      cases: selectedCases.map(\.name),
                      plannedRuns: Dictionary(uniqueKeysWithValues: selectedCases.map { ($0.name, $0.repeatCount) }), wallTime: clock.now - started, jobs: jobs, shard: options.shard, snapshot: snapshotSummary)
    }
}

/// Serial log file names: the case name with anything but letters, digits, `.`, `_` and
/// `-` replaced by `_` (and `~N` added if two names then collide), then `.log`, or
/// `.N.log` for run N of a repeating case. A reserved stem (the snapshot boot's log) is
/// never a case's.
struct LogNames {
    static let snapshot = "snapshot"
    private var stems: [String: String] = [:]

    init(cases: [Manifest.TestCase], reserving reserved: Set<String> = []) {
        var used = reserved
        for testCase in cases {
            let safe = String(testCase.name.map { $0.isASCII && ($0.isLetter || $0.isNumber || "._-".contains($0)) ? $0 : "_" })
            var stem = safe.hasPrefix(".") ? "_" + safe.dropFirst() : safe
            var suffix = 2
            while !used.insert(stem).inserted {
                stem = "\(safe)~\(suffix)"
                suffix += 1
            }
            stems[testCase.name] = stem
        }
    }

    func file(for testCase: Manifest.TestCase, iteration: Int) -> String {
        let stem = stems[testCase.name] ?? testCase.name
        return testCase.repeatCount > 1 ? "\(stem).\(iteration).log" : "\(stem).log"
    }
}
