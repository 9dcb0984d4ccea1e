import ArgumentParser
import SwiftVMM
import SystemPackage
#if canImport(Glibc)
import Glibc
#endif

/// `swiftvmm-test`, run as `swiftvmm test`: the test-suite runner. It is a program of its own
/// so that `swiftvmm boot` does not load Foundation (which the manifest readers need) and
/// start a kernel a few milliseconds sooner. ArgumentParser's usage status (64) becomes 2,
/// as the exit-status table says.
do {
    var command = try Test.parseAsRoot()
    if let test = command as? Test {
        try await runAsync(test)
    } else {
        try command.run()
    }
} catch let code as ExitCode {
    exit(code.rawValue)
} catch {
    let message = Test.fullMessage(for: error)
    if Test.exitCode(for: error) == .success {
        print(message)
        exit(0)
    }
    printError(message)
    exit(ExitStatus.usage)
}

/// In an async function the async `run()` is chosen over the synchronous one every
/// `ParsableCommand` has.
func runAsync(_ test: Test) async throws {
    try await test.run()
}

func printError(_ message: String) {
    _ = try? FileDescriptor.standardError.writeAll((message.hasSuffix("\n") ? message : message + "\n").utf8)
}
