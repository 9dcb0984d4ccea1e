import ArgumentParser
import DemoGuest
import SwiftVMM

struct Demo: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Boot the built-in demo kernel: every vCPU says hello.",
        discussion: "Exits 0 when the demo kernel reports success (it writes 0 to the debug-exit port)."
    )

    @OptionGroup var machine: MachineOptions

    mutating func run() throws {
        try machine.settings.boot(kernel: .image(name: "demo kernel", bytes: demoGuest), bootProtocol: nil, commandLine: "",
                         modules: [], success: .debugExit(0))
    }
}
