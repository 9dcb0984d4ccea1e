import ArgumentParser
import SwiftVMM
#if canImport(Glibc)
import Glibc
#endif

/// `swiftvmm`: parse, run, exit with the documented status. ArgumentParser's own error
/// statuses (64 for usage) are replaced by 2, as the exit-status table says.
do {
    var command = try SwiftVMMCommand.parseAsRoot()
    try command.run()
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
