import ArgumentParser
import Logging
import SwiftVMM

struct Boot: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "boot",
        abstract: "Boot a multiboot 1, multiboot 2 or ELF64 kernel, or a GRUB ISO.",
        discussion: """
            The kernel's serial port (COM1) is connected to standard input and output; bytes \
            pass unchanged. A plain ELF64 kernel (no multiboot header) starts in 64-bit mode \
            with 0-4 GiB identity-mapped, RDI = multiboot 2 information, RSI = 0x36d76289.

            A GRUB rescue ISO (grub-mkrescue) boots without firmware: SwiftVMM reads \
            /boot/grub/grub.cfg from it and loads its default entry's multiboot or multiboot2 \
            kernel and modules with the strings GRUB would give them; --cmdline, --module and \
            --boot-protocol then come from grub.cfg and may not be given.

            QEMU's spelling is accepted too (swiftvmm boot -kernel KERNEL -smp N -m SIZE -append \
            STRING ..., or swiftvmm run as qemu-system-x86_64); `swiftvmm boot -kernel x -h` lists it.

            """ + ExitStatus.table
    )

    @Argument(help: "The kernel image (ELF32/ELF64 or a.out-kludge multiboot), or a GRUB ISO.")
    var kernel: String

    @OptionGroup var machine: MachineOptions

    @Option(help: "The kernel command line.")
    var cmdline: String = ""

    @Option(name: .customLong("module"), help: ArgumentHelp("A boot module; STRING is its string (default: PATH).", valueName: "PATH[=STRING]"))
    var modules: [String] = []

    @Option(name: .customLong("boot-protocol"), help: "Force the boot protocol: mb1, mb2 or elf64 (default: detect).")
    var bootProtocol: BootProtocolArgument?

    @Option(name: .customLong("snapshot-on"), help: ArgumentHelp(
        "Take --save's snapshot where a complete serial line matches REGEX, not where the guest writes the snapshot port.",
        valueName: "REGEX"))
    var snapshotOn: String?

    @Option(help: ArgumentHelp(
        "Take a snapshot where the guest writes the snapshot port 0x5F0 (or where a line matches --snapshot-on), write it to DIR and exit 0; `swiftvmm restore DIR` continues it.",
        valueName: "DIR"))
    var save: String?

    /// The parsed command line.
    var request: BootRequest {
        BootRequest(kernel: kernel, cmdline: cmdline, modules: modules, bootProtocol: bootProtocol, snapshotOn: snapshotOn,
                    save: save, machine: machine.settings)
    }

    mutating func run() throws {
        try request.run()
    }
}

/// What `swiftvmm boot` was asked to do, as plain values: built by `Boot` (ArgumentParser)
/// or by `BootFastPath`, which gives it the same defaults.
struct BootRequest {
    var kernel: String
    var cmdline = ""
    var modules: [String] = []
    var bootProtocol: BootProtocolArgument?
    var snapshotOn: String?
    var save: String?
    var machine = MachineSettings()

    func run() throws {
        let snapshot: SnapshotRequest?
        switch (snapshotOn, save) {
        case (let pattern, let directory?): snapshot = SnapshotRequest(pattern: pattern, directory: directory)
        case (nil, nil): snapshot = nil
        case (_?, nil): throw ValidationError("--snapshot-on needs --save DIR, the directory to write the snapshot to")
        }
        try machine.boot(kernel: .file(kernel), bootProtocol: bootProtocol?.value, commandLine: cmdline,
                         modules: modules.map(BootModule.init(argument:)), snapshot: snapshot)
    }
}

struct BootProtocolArgument: ExpressibleByArgument {
    let value: BootProtocol
    init?(argument: String) {
        guard let value = BootProtocol(rawValue: argument) else { return nil }
        self.value = value
    }
    static var allValueStrings: [String] { BootProtocol.allCases.map(\.rawValue) }
}
