import SwiftVMMSupport

/// Passes serial output through to another sink and matches every complete line against
/// patterns (`--exit-on`): many kernels' test suites print a final line and then spin.
/// `matched` is called after the matching line, newline included, has been written.
public final class LineMatchingSink: SerialSink, @unchecked Sendable {
    private let output: any SerialSink
    /// The patterns, compiled once; only read after init.
    private let patterns: [(text: String, regex: Regex<AnyRegexOutput>)]
    private let line = AnnotatedMutex<[UInt8]>([])
    private let matched: @Sendable (String) -> Void

    /// Throws when a pattern is not a valid regular expression.
    public init(output: any SerialSink, patterns: [String], matched: @escaping @Sendable (String) -> Void) throws {
        self.output = output
        self.patterns = try patterns.map { ($0, try Regex($0)) }
        self.matched = matched
    }

    public func write(_ byte: UInt8) {
        output.write(byte)
        let complete: [UInt8]? = line.withLock { line in
            guard byte == UInt8(ascii: "\n") else {
                line.append(byte)
                return nil
            }
            defer { line.removeAll(keepingCapacity: true) }
            return line
        }
        guard let complete else { return }
        let text = String(decoding: complete, as: UTF8.self)
        if let pattern = patterns.first(where: { text.contains($0.regex) }) { matched(pattern.text) }
    }
}
