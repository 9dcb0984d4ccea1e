import ArgumentParser
import SwiftVMM

struct SwiftVMMCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "swiftvmm",
        abstract: "A small KVM virtual machine monitor for booting multiboot and ELF64 kernels.",
        discussion: ExitStatus.table,
        subcommands: [Boot.self, Restore.self, Demo.self, Test.self]
    )
}
