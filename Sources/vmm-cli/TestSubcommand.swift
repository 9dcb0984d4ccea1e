import ArgumentParser
import SwiftVMM
#if canImport(Glibc)
import Glibc
#endif

/// `swiftvmm test ...` replaces this process with the `swiftvmm-test` program that is built
/// and installed beside `swiftvmm`, passing every argument on (`--help` included, so its
/// help is the runner's own). The runner lives apart because it needs Foundation, which
/// would add milliseconds to every `swiftvmm boot`.
struct Test: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "test",
        abstract: "Run a test-suite manifest (JSON or YAML) of kernels in parallel; see `swiftvmm test --help`.",
        discussion: "Runs the swiftvmm-test program beside this one, with the same arguments."
    )

    @Argument(parsing: .captureForPassthrough, help: "The manifest and swiftvmm-test's options.")
    var arguments: [String] = []

    func run() throws {
        let runner = Self.runnerPath()
        guard access(runner, X_OK) == 0 else {
            printError("swiftvmm: \(runner): not found; `swiftvmm test` runs it (build it with `swift build --product swiftvmm-test`)")
            throw ExitCode(ExitStatus.usage)
        }
        let argv = ([runner] + arguments).map { strdup($0) } + [nil]
        execv(runner, argv)
        printError("swiftvmm: \(runner): \(String(cString: strerror(errno)))")
        throw ExitCode(ExitStatus.usage)
    }

    /// `swiftvmm-test` in the folder of this executable (symbolic links resolved, so a
    /// `qemu-system-x86_64` link to swiftvmm finds it too).
    static func runnerPath() -> String {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let length = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        let executable = length > 0 ? String(decoding: buffer[..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self) : CommandLine.arguments[0]
        let folder = executable.split(separator: "/", omittingEmptySubsequences: false).dropLast().joined(separator: "/")
        return (folder.isEmpty ? "." : folder) + "/swiftvmm-test"
    }
}
