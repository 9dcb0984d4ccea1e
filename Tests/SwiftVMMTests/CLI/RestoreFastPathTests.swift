import ArgumentParser
import Testing
@testable import vmm_cli

/// `RestoreFastPath` is held to ArgumentParser as `BootFastPath` is: the same request for
/// every command line it accepts, and a table that names every option `restore` documents.
struct RestoreFastPathTests {
    func fields(_ request: RestoreRequest) -> String {
        var text = ""
        dump(request, to: &text)
        return text
    }

    func argumentParser(_ arguments: [String]) throws -> RestoreRequest {
        let command = try SwiftVMMCommand.parseAsRoot(arguments)
        return try #require(command as? Restore).request
    }

    @Test("the fast path builds what ArgumentParser builds", arguments: [
        ["restore", "dir"],
        ["restore", "dir", "--input", "run test 17", "--serial", "none"],
        ["restore", "--input=ipi", "dir", "--serial=file:/tmp/out", "--pin", "0,1"],
        ["restore", "dir", "--exit-on", "^PASS$", "--exit-on=^FAIL", "--exit-on-status", "3"],
        ["restore", "dir", "--timeout", "2.5", "--log-level", "error", "--pin=none"],
        ["restore", "dir", "--input", ""],
    ])
    func sameRestoreAsArgumentParser(_ arguments: [String]) throws {
        let fast = try #require(RestoreFastPath.parse(arguments), "the fast path declined \(arguments)")
        #expect(fields(fast) == fields(try argumentParser(arguments)))
    }

    /// The comparison above can fail: one changed option shows in the fields.
    @Test func fieldsShowADifference() throws {
        let fast = try #require(RestoreFastPath.parse(["restore", "dir", "--input", "a"]))
        #expect(fields(fast) != fields(try argumentParser(["restore", "dir", "--input", "b"])))
        #expect(fields(fast) != fields(try argumentParser(["restore", "dir", "--input", "a", "--timeout", "1"])))
    }

    @Test("the fast path declines", arguments: [
        ["restore"], ["restore", "--help"], ["restore", "dir", "-h"], ["restore", "dir", "other"],
        ["restore", "dir", "--input"], ["restore", "dir", "--input", "-x"], ["restore", "dir", "--timeout", "soon"],
        ["restore", "dir", "--input", "a", "--input", "b"], ["restore", "dir", "--cpus", "2"], ["restore", "--", "dir"],
        ["boot", "dir"],
    ])
    func declines(_ arguments: [String]) {
        #expect(RestoreFastPath.parse(arguments) == nil)
    }

    /// Every long option `restore --help` lists is in the table, and nothing else is.
    @Test func tableMatchesTheHelp() throws {
        let help = SwiftVMMCommand.helpMessage(for: Restore.self, columns: 10_000)
        // The options section only: the description names boot's --snapshot-on and --save.
        let options = try #require(help.range(of: "OPTIONS:")).upperBound
        #expect(longOptions(in: help[options...]) == Set(RestoreFastPath.options.map(\.name)))
    }
}
