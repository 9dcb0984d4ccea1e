import ArgumentParser
import SwiftVMM
#if canImport(Glibc)
import Glibc
#endif

/// `swiftvmm`: parse, run, exit with the documented status. ArgumentParser's own error
/// statuses (64 for usage) are replaced by 2, as the exit-status table says. In QEMU's
/// spelling (invoked as qemu-system-x86_64, or `boot -kernel ...`) the arguments are first
/// translated into swiftvmm's.
var arguments = Array(CommandLine.arguments.dropFirst())
if QEMUSpelling.applies(program: CommandLine.arguments[0], arguments: arguments) {
    do {
        switch try QEMUSpelling.translate(arguments.first == "boot" ? Array(arguments.dropFirst()) : arguments) {
        case .help:
            print(QEMUSpelling.usage)
            exit(0)
        case .version:
            print(QEMUSpelling.versionLine)
            exit(0)
        case .deviceList:
            print(QEMUSpelling.deviceList)
            exit(0)
        case .boot(let translation):
            for warning in translation.warnings { printError("swiftvmm: warning: \(warning)") }
            // QEMU's wording, which scripts look for (kvm-unit-tests tells a missing kernel
            // from an unsupported option by it).
            let file = translation.arguments[1]
            if access(file, R_OK) != 0 {
                let reason = String(cString: strerror(errno))
                printError(translation.bootOption == "cdrom"
                    ? "swiftvmm: -cdrom \(file): Could not open '\(file)': \(reason)"
                    : "swiftvmm: could not load kernel '\(file)': \(reason)")
                exit(ExitStatus.usage)
            }
            arguments = translation.arguments
        }
    } catch {
        printError("swiftvmm: \(error)")
        exit(ExitStatus.usage)
    }
}

do {
    // The common `boot` and `restore` command lines skip ArgumentParser's reflection (FastPath).
    if let request = BootFastPath.parse(arguments) {
        try request.run()
    } else if let request = RestoreFastPath.parse(arguments) {
        try request.run()
    } else {
        var command = try SwiftVMMCommand.parseAsRoot(arguments)
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
