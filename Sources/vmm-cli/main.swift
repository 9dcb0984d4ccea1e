import ArgumentParser
import SwiftVMM
#if canImport(Glibc)
import Glibc
#endif

/// `swiftvmm`: parse, run, exit with the documented status. ArgumentParser's own error
/// statuses (64 for usage) are replaced by 2, as the exit-status table says.
do {
    var command = try SwiftVMMCommand.parseAsRoot()
    if let command = command as? any AsyncParsableCommand {
        try await runAsync(command)
    } else {
        try command.run()
    }
} catch let code as ExitCode {
    exit(code.rawValue)
} catch {
    let message = SwiftVMMCommand.fullMessage(for: error)
    if SwiftVMMCommand.exitCode(for: error) == .success {
        print(message)
        exit(0)
    }
    printError(message)
    exit(ExitStatus.usage)
}

/// Runs an async subcommand (`swiftvmm test`); in an async function the async `run()` is
/// chosen over the synchronous one every `ParsableCommand` has.
func runAsync(_ command: any AsyncParsableCommand) async throws {
    var command = command
    try await command.run()
}
