import SwiftVMM
import SwiftVMMHarness
import SystemPackage
#if canImport(Glibc)
import Glibc
#endif

/// `swiftvmm test`'s progress on standard error: on a terminal one line redrawn in place
/// (done/total, running, failed, the last run to finish); otherwise one plain line per
/// finished run, which reads well in CI logs.
final class ProgressLine: Sendable {
    private struct State {
        var done = 0
        var running = 0
        var failed = 0
        /// The last run to finish, with its verdict.
        var last: String?
        var drawn = false
    }

    private let total: Int
    private let isTerminal = isatty(STDERR_FILENO) != 0
    private let state = AnnotatedMutex(State())

    init(total: Int) { self.total = total }

    func record(_ event: Runner.Event) {
        state.withLock { state in
            switch event {
            case .started:
                state.running += 1
                if isTerminal { draw(&state) }
            case .finished(let result):
                state.running -= 1
                state.done += 1
                if !result.passed { state.failed += 1 }
                let verdict = result.passed ? "PASS" : "FAIL"
                if isTerminal {
                    state.last = "\(verdict) \(result.displayName)"
                    draw(&state)
                } else {
                    var line = "[\(pad(state.done))/\(total)] \(verdict) \(result.displayName) (\(String(format: "%.2f", seconds(result.duration))) s)"
                    if let failure = result.failures.first { line += ": \(failure)" }
                    if !result.passed, let log = result.logPath { line += " [log: \(log)]" }
                    write(line + "\n")
                }
            }
        }
    }

    /// Clears the terminal line before the summary is printed.
    func finish() {
        state.withLock { state in
            if state.drawn { write("\r\u{1B}[K") }
            state.drawn = false
        }
    }

    private func draw(_ state: inout State) {
        var line = "[\(pad(state.done))/\(total)] \(state.running) running, \(state.failed) failed"
        if let last = state.last { line += " · last: \(last)" }
        // Fit the terminal width so the line never wraps (a wrapped line cannot be redrawn).
        var size = winsize()
        if ioctl(STDERR_FILENO, UInt(TIOCGWINSZ), &size) == 0, size.ws_col > 1, line.count >= Int(size.ws_col) {
            line = String(line.prefix(Int(size.ws_col) - 1))
        }
        write("\r\u{1B}[K" + line)
        state.drawn = true
    }

    private func pad(_ value: Int) -> String {
        let text = String(value)
        return String(repeating: " ", count: max(0, String(total).count - text.count)) + text
    }

    private func write(_ text: String) {
        _ = try? FileDescriptor.standardError.writeAll(text.utf8)
    }
}

private func seconds(_ duration: Duration) -> Double {
    let (whole, fraction) = duration.components
    return Double(whole) + Double(fraction) / 1e18
}
