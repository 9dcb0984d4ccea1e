import Foundation
import SwiftVMM

/// One boot of a case and what came of it.
public struct RunResult: Sendable {
    public var caseName: String
    /// 1-based, of `repeatCount`.
    public var iteration: Int
    public var repeatCount: Int
    /// nil when the machine could not be built.
    public var outcome: Outcome?
    /// Empty when the run passed.
    public var failures: [RunFailure]
    /// From building the machine to its last thread joined.
    public var duration: Duration
    /// The serial log, when an output folder was given.
    public var logPath: String?
    /// The last lines of serial output.
    public var lastLines: [String]
    /// What SwiftVMM logged about the run (warnings, the fault report).
    public var messages: [String]
    /// The run was a fork of the manifest's snapshot (not a boot of its own).
    public var forked = false

    public var passed: Bool { failures.isEmpty }

    /// "hello", or "hello (2/10)" when the case repeats.
    public var displayName: String { repeatCount > 1 ? "\(caseName) (\(iteration)/\(repeatCount))" : caseName }
}

/// Why a run failed.
public enum RunFailure: Sendable, Equatable, CustomStringConvertible {
    /// The machine could not be built (unloadable kernel, host error).
    case notStarted(String)
    /// Expected pattern `index` (1-based) was not seen after the earlier ones.
    case patternNotSeen(index: Int, pattern: String, reason: String)
    /// The run ended otherwise than the manifest says.
    case outcomeMismatch(expected: ExpectedOutcome, actual: Outcome)
    /// The case's time limit passed (and the manifest did not expect that).
    case timedOut(after: Duration)
    /// The run was cancelled (the harness was interrupted).
    case cancelled

    /// A word for JUnit's failure type attribute.
    public var kind: String {
        switch self {
        case .notStarted: "not-started"
        case .patternNotSeen: "pattern-not-seen"
        case .outcomeMismatch: "outcome-mismatch"
        case .timedOut: "timeout"
        case .cancelled: "cancelled"
        }
    }

    public var description: String {
        switch self {
        case .notStarted(let reason): "machine not started: \(reason)"
        case .patternNotSeen(let index, let pattern, let reason): "expected line \(index) /\(pattern)/ not seen: \(reason)"
        case .outcomeMismatch(let expected, let actual): "expected \(expected), got: \(actual)"
        case .timedOut(let limit): "timed out after \(seconds(limit))"
        case .cancelled: "cancelled"
        }
    }
}

/// "1.25 s".
func seconds(_ duration: Duration) -> String {
    let (whole, fraction) = duration.components
    return String(format: "%.2f s", Double(whole) + Double(fraction) / 1e18)
}
