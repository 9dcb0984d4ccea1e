import Foundation

/// Every run of a `Runner`, and what they add up to.
public struct Report: Sendable {
    /// In case-name order, then by iteration.
    public var results: [RunResult]
    /// The selected cases' names, in order.
    public var cases: [String]
    /// Runs planned per case (fewer ran if the harness was cancelled).
    public var plannedRuns: [String: Int]
    public var wallTime: Duration
    public var jobs: Int
    public var shard: Shard?
    /// The manifest's snapshot boot, when a case forked from it.
    public var snapshot: SnapshotSummary? = nil

    /// The boot that cases with input forked from.
    public struct SnapshotSummary: Sendable {
        public var kernel: String
        /// The manifest's `at`; nil: the guest's write to the snapshot port.
        public var at: String?
        /// From building its machine to the snapshot taken (or the boot failing).
        public var duration: Duration
        /// Why there is no snapshot; nil when it was taken.
        public var failure: String?
    }

    /// True when every planned run ran and passed.
    public var passed: Bool { results.allSatisfy(\.passed) && results.count == plannedRuns.values.reduce(0, +) }
    public var failedRuns: Int { results.filter { !$0.passed }.count }

    /// One case's runs.
    public struct CaseSummary: Sendable {
        public var name: String
        public var runs: [RunResult]
        /// Runs the case was to have (fewer ran when the harness was cancelled).
        public var planned: Int
        public var passedRuns: Int { runs.filter(\.passed).count }
        /// Passed runs over planned runs.
        public var passRate: Double { planned == 0 ? 0 : Double(passedRuns) / Double(planned) }
        /// PASS (every run), FAIL (none) or FLAKY (some); NOT RUN when the harness was
        /// interrupted before the case started.
        public var verdict: String {
            runs.isEmpty ? "NOT RUN" : passedRuns == planned ? "PASS" : passedRuns == 0 ? "FAIL" : "FLAKY"
        }
        public var medianDuration: Duration? {
            let sorted = runs.map(\.duration).sorted()
            return sorted.isEmpty ? nil : sorted[sorted.count / 2]
        }
        public var maxDuration: Duration? { runs.map(\.duration).max() }
    }

    public var caseSummaries: [CaseSummary] {
        let byCase = Dictionary(grouping: results, by: \.caseName)
        return cases.map { name in
            let runs = byCase[name] ?? []
            return CaseSummary(name: name, runs: runs, planned: plannedRuns[name] ?? runs.count)
        }
    }

    /// The table, the failures with their logs, and a closing count.
    public var summary: String {
        let summaries = caseSummaries
        let nameWidth = max(4, summaries.map(\.name.count).max() ?? 0)
        func pad(_ text: String, _ width: Int) -> String { text + String(repeating: " ", count: max(0, width - text.count)) }
        var lines = [pad("case", nameWidth) + "  result   passed   rate   median     max"]
        for summary in summaries {
            lines.append(pad(summary.name, nameWidth) + "  " + pad(summary.verdict, 7) + "  "
                         + pad("\(summary.passedRuns)/\(summary.planned)", 7) + String(format: "%6.1f%%", summary.passRate * 100)
                         + "  " + String(repeating: " ", count: max(0, 8 - (summary.medianDuration.map(seconds)?.count ?? 1)))
                         + (summary.medianDuration.map(seconds) ?? "-")
                         + "  " + String(repeating: " ", count: max(0, 8 - (summary.maxDuration.map(seconds)?.count ?? 1)))
                         + (summary.maxDuration.map(seconds) ?? "-"))
        }
        let failures = results.filter { !$0.passed }
        if !failures.isEmpty { lines.append("") }
        for failure in failures {
            lines.append("FAIL \(failure.displayName): " + failure.failures.map(\.description).joined(separator: "; "))
            if let log = failure.logPath { lines.append("     log: \(log)") }
            if !failure.lastLines.isEmpty {
                lines.append("     last lines:")
                lines += failure.lastLines.map { "       | \($0)" }
            }
        }
        if let snapshot {
            lines.append("")
            let point = snapshot.at.map { "/\($0)/" } ?? "its snapshot port write"
            lines.append("snapshot: \(snapshot.kernel) booted once to \(point) in \(seconds(snapshot.duration)): "
                         + (snapshot.failure ?? "taken; \(results.filter(\.forked).count) runs forked from it"))
        }
        let failedCases = summaries.filter { $0.verdict == "FAIL" || $0.verdict == "FLAKY" }.count
        let notRun = plannedRuns.values.reduce(0, +) - results.count
        lines.append("")
        lines.append("\(summaries.count) cases, \(results.count) runs: \(results.count - failedRuns) passed, \(failedRuns) failed"
                     + (notRun > 0 ? ", \(notRun) not run (interrupted)" : "")
                     + (failedCases > 0 ? " (\(failedCases) case\(failedCases == 1 ? "" : "s") failing)" : "")
                     + "; \(seconds(wallTime)) with \(jobs) job\(jobs == 1 ? "" : "s")" + (shard.map { ", shard \($0)" } ?? ""))
        return lines.joined(separator: "\n") + "\n"
    }
}
