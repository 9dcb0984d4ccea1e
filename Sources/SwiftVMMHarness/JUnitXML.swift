import Foundation

/// The JUnit XML format CI systems read (Jenkins, GitLab, GitHub test reporters): one
/// `<testsuite>` for the manifest, one `<testcase>` per run ("name (k/N)" when a case
/// repeats), a `<failure>` naming what failed with the last serial lines, and the serial
/// log's path in `<system-out>`.
public enum JUnitXML {
    public static func document(for report: Report, suiteName: String, timestamp: Date = Date()) -> String {
        let failures = report.failedRuns
        let time = secondsValue(report.wallTime)
        var xml = """
            <?xml version="1.0" encoding="UTF-8"?>
            <testsuites name="swiftvmm" tests="\(report.results.count)" failures="\(failures)" errors="0" time="\(time)">
              <testsuite name="\(escape(suiteName))" tests="\(report.results.count)" failures="\(failures)" errors="0" skipped="0" \
            time="\(time)" timestamp="\(ISO8601DateFormatter().string(from: timestamp))">
                <properties>
                  <property name="jobs" value="\(report.jobs)"/>
                  <property name="shard" value="\(report.shard.map(\.description) ?? "1/1")"/>
                </properties>

            """
        for result in report.results {
            xml += "    <testcase name=\"\(escape(result.displayName))\" classname=\"\(escape(suiteName))\" time=\"\(secondsValue(result.duration))\""
            var body = ""
            if let first = result.failures.first {
                var text = result.failures.map(\.description).joined(separator: "\n")
                if let log = result.logPath { text += "\nlog: \(log)" }
                if !result.lastLines.isEmpty { text += "\nlast lines:\n" + result.lastLines.joined(separator: "\n") }
                body += "      <failure type=\"\(first.kind)\" message=\"\(escape(result.failures.map(\.description).joined(separator: "; ")))\">"
                    + escape(text) + "</failure>\n"
            }
            if let log = result.logPath { body += "      <system-out>\(escape("serial log: \(log)"))</system-out>\n" }
            if !result.messages.isEmpty { body += "      <system-err>\(escape(result.messages.joined(separator: "\n")))</system-err>\n" }
            xml += body.isEmpty ? "/>\n" : ">\n" + body + "    </testcase>\n"
        }
        xml += "  </testsuite>\n</testsuites>\n"
        return xml
    }

    /// Text or attribute content: markup characters as entities, and characters XML 1.0
    /// does not allow (control characters a guest may print) as U+FFFD.
    static func escape(_ text: String) -> String {
        var escaped = ""
        escaped.reserveCapacity(text.utf8.count)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "&": escaped += "&amp;"
            case "<": escaped += "&lt;"
            case ">": escaped += "&gt;"
            case "\"": escaped += "&quot;"
            case "'": escaped += "&apos;"
            case "\t", "\n", "\r": escaped.unicodeScalars.append(scalar)
            case _ where scalar.value < 0x20 || (0xFFFE...0xFFFF).contains(scalar.value): escaped += "\u{FFFD}"
            default: escaped.unicodeScalars.append(scalar)
            }
        }
        return escaped
    }

    private static func secondsValue(_ duration: Duration) -> String {
        let (whole, fraction) = duration.components
        return String(format: "%.3f", Double(whole) + Double(fraction) / 1e18)
    }
}
