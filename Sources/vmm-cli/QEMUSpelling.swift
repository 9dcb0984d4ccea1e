import SwiftVMM

/// QEMU's command-line spelling of a `-kernel` boot, translated into `swiftvmm boot`
/// arguments, so a run script written for `qemu-system-x86_64` runs unchanged with
/// swiftvmm in its place. Used when swiftvmm is invoked as `qemu-system-x86_64` (a
/// symlink) or when `swiftvmm boot` is given QEMU's single-dash options.
///
/// Options QEMU also spells with two dashes (`--kernel`) are QEMU's; any other `--option`
/// is swiftvmm's own and passes through with its value, so `--timeout 30` can be mixed in.
struct QEMUSpelling: Equatable {
    /// The native arguments, starting with "boot" and the kernel or disc.
    var arguments: [String]
    /// The option that named the file booted: "kernel" or "cdrom" (for QEMU's messages).
    var bootOption = "kernel"
    /// One line each, for options accepted but not honoured.
    var warnings: [String]

    /// How an invocation in QEMU spelling is to be handled.
    enum Invocation: Equatable {
        case boot(QEMUSpelling)
        case help
        case version
        /// `-device help` or `-device ?`: the devices, in QEMU's listing format.
        case deviceList
    }

    /// The first line of `-version` and `-help`, in QEMU's format, so scripts that parse
    /// QEMU's version (kvm-unit-tests reads `-h | head -1`) can; the number is that of the
    /// QEMU whose command line this follows (Debian 12's), and the rest says who is speaking.
    static let versionLine = "QEMU emulator version 7.2.0 (SwiftVMM, speaking qemu-system-x86_64's command line; this is not QEMU)"

    /// QEMU's device names SwiftVMM has, for `-device`, listed as `-device help` lists them.
    static let devices = ["isa-debug-exit", "pc-testdev"]

    static var deviceList: String {
        "Misc devices:\n" + devices.map { "name \"\($0)\", bus ISA" }.joined(separator: "\n")
    }

    /// QEMU's defaults that differ from swiftvmm's: `-m` is 128 MiB; isa-debug-exit sits at
    /// 0x501, two ports wide (QEMU hw/misc/debugexit.c).
    static let defaultMemory = "128M"
    static let defaultDebugExitBase: UInt64 = 0x501, defaultDebugExitSize: UInt64 = 2
    /// `-s` is `-gdb tcp::1234`.
    static let defaultGDBDevice = "tcp::1234"

    /// The QEMU options understood, and whether each takes a value.
    static let options: [String: Bool] = [
        "kernel": true, "append": true, "initrd": true, "smp": true, "m": true, "serial": true,
        "display": true, "device": true, "gdb": true, "accel": true, "cpu": true, "machine": true,
        "M": true, "fw_cfg": true, "name": true, "monitor": true, "vga": true, "net": true, "nic": true,
        "parallel": true, "global": true, "overcommit": true, "boot": true,
        "cdrom": true, "hda": true, "hdb": true, "hdc": true, "hdd": true, "drive": true, "bios": true,
        "pflash": true,
        "nographic": false, "no-reboot": false, "enable-kvm": false, "nodefaults": false,
        "no-user-config": false, "s": false, "S": false,
        "h": false, "help": false, "version": false,
    ]

    /// Whether `program` (argv[0]) and `arguments` ask for QEMU spelling: the program is
    /// named qemu-system-x86_64, or `boot` is followed by a QEMU single-dash option.
    static func applies(program: String, arguments: [String]) -> Bool {
        if program.split(separator: "/").last == "qemu-system-x86_64" { return true }
        guard arguments.first == "boot" else { return false }
        // -s and -S are also swiftvmm's own (boot kernel.elf -s -S), so they alone do not switch.
        return arguments.dropFirst().contains { argument in
            argument.hasPrefix("-") && !argument.hasPrefix("--") && !["-h", "-s", "-S"].contains(argument)
                && options[String(argument.dropFirst())] != nil
        }
    }

    /// Translates QEMU-spelled `arguments` (without the program name or `boot`).
    static func translate(_ arguments: [String]) throws(QEMUSpellingError) -> Invocation {
        var translator = Translator()
        var remaining = arguments[...]
        while let argument = remaining.popFirst() {
            guard argument.hasPrefix("-"), argument.count > 1 else {
                throw .unsupported("\(argument): disk images are not supported; give the kernel with -kernel or a GRUB ISO with -cdrom")
            }
            let name = String(argument.dropFirst(argument.hasPrefix("--") ? 2 : 1))
            guard let takesValue = options[name] else {
                guard argument.hasPrefix("--") else { throw .unsupported("-\(name) is not supported") }
                // swiftvmm's own option, with its value unless it is a flag or written --x=v.
                translator.native.append(argument)
                if !argument.contains("="), let value = remaining.first, !value.hasPrefix("-") {
                    translator.native.append(remaining.removeFirst())
                }
                continue
            }
            var value = ""
            if takesValue {
                guard let next = remaining.popFirst() else { throw .missingValue("-\(name)") }
                value = next
            }
            switch name {
            case "h", "help": return .help
            case "version": return .version
            case "device" where value == "help" || value == "?": return .deviceList
            default: try translator.apply(name, value)
            }
        }
        return .boot(try translator.result())
    }

    static let usage = """
        \(versionLine)
        swiftvmm, invoked with QEMU's spelling (as qemu-system-x86_64, or swiftvmm boot -kernel ...):

          -kernel PATH            the kernel (multiboot 1/2 or ELF64); command line "PATH APPEND"
          -cdrom ISO, -drive file=ISO,media=cdrom   a GRUB rescue ISO: grub.cfg's default entry
                                  is booted without firmware (ignored when -kernel is given)
          -boot ORDER             accepted (the ISO or -kernel is what boots)
          -append STRING          appended to the kernel path in the command line
          -initrd "MOD [ARGS],…"  multiboot modules (,, is a comma); each string is the whole entry
          -smp N[,cores=,threads=,sockets=,maxcpus=]   N single-thread cores; topology ignored
          -m SIZE                 RAM (bare number: MiB; default 128M)
          -serial stdio|mon:stdio|file:PATH|none|null   COM1
          -device isa-debug-exit[,iobase=N][,iosize=N]  (default 0x501, 2; 0xF4 is always there)
          -device pc-testdev      QEMU's test device (kvm-unit-tests); -device help lists the devices
          -global kvm-pit.lost_tick_policy=delay|discard   the PIT's lost ticks (--lost-ticks)
          -fw_cfg name=NAME,file=PATH|string=STRING
          -s, -gdb DEV, -S        gdb server on tcp::1234 / DEV; wait for gdb before starting
          -cpu host|max|qemu64[,±FEATURE][,vendor=GenuineIntel|AuthenticAMD]   the host CPU as KVM
                                  offers it, features and vendor changed (--cpu-features, --cpu-vendor)
          -machine pc|q35[,accel=kvm][,kernel_irqchip=on|split|off][,pit=on|off]   on: --irqchip kernel,
                                  else user; the PIT ticks at 18.2 Hz as SeaBIOS leaves it
                                  (--bios-timer) unless pit=off or kernel_irqchip=on
          -nographic, -display none, -no-reboot, -enable-kvm, -accel kvm, -nodefaults,
          -no-user-config, -name, -monitor/-vga/-net/-nic/-parallel none, -overcommit
                                  accepted (values that would change behaviour are warned about)
          -hda…-hdd, other -drive, -bios, -pflash   refused: no firmware, no disks

        swiftvmm's own --options may be mixed in (e.g. --timeout 30). Exit statuses: swiftvmm boot --help.
        """
}

/// Why a QEMU-spelled command line cannot be run (exit status 2).
enum QEMUSpellingError: Error, Equatable, CustomStringConvertible {
    case missingValue(String)
    case invalid(String, String)
    case unsupported(String)

    var description: String {
        switch self {
        case .missingValue(let option): "\(option) needs a value"
        case .invalid(let option, let value): "\(option) \(value): not a valid value"
        case .unsupported(let message): message
        }
    }
}

/// Collects the native arguments while the options are read.
private struct Translator {
    var kernel: String?
    var cdrom: String?
    var append = ""
    var options: [String] = []
    var native: [String] = []
    var warnings: [String] = []
    var memory: String?
    var serialGiven = false
    /// SeaBIOS leaves the PIT ticking (`--bios-timer`) unless `-machine pit=off`, or KVM's
    /// irqchip runs it.
    var biosTimer = true

    mutating func apply(_ name: String, _ value: String) throws(QEMUSpellingError) {
        switch name {
        case "kernel": kernel = value
        case "append": append = value
        case "initrd": try initrd(value)
        case "smp": try smp(value)
        case "m": try self.memory(value)
        case "serial": try serial(value)
        case "device": try device(value)
        case "fw_cfg": options += ["--fw-cfg", value]
        case "global": global(value)
        case "gdb": options += ["--gdb", value]
        case "s": options += ["--gdb", QEMUSpelling.defaultGDBDevice]
        case "S": options.append("--gdb-wait")
        case "accel": accelerator(value, option: "-accel ")
        case "cpu": try cpu(value)
        case "machine", "M": try machine(value)
        case "display":
            if value != "none" { warnings.append("-display \(value) ignored: there is no display") }
        case "overcommit":
            warnings.append("-overcommit \(value) ignored: vCPUs are pinned threads, RAM is mapped on demand")
        case "monitor", "vga", "net", "nic", "parallel":
            if value != "none" { warnings.append("-\(name) \(value) ignored: not supported") }
        case "cdrom": cdrom = value
        case "drive": try drive(value)
        case "boot":
            break                                   // no firmware: the -cdrom or -kernel boots
        case "hda", "hdb", "hdc", "hdd":
            throw .unsupported("-\(name): disks are not supported; SwiftVMM boots a -kernel image or a GRUB ISO (-cdrom) directly")
        case "bios", "pflash":
            throw .unsupported("-\(name): SwiftVMM has no firmware; it boots the -kernel image directly (drop -\(name))")
        case "nographic", "no-reboot", "enable-kvm", "nodefaults", "no-user-config", "name":
            break                                   // what SwiftVMM does anyway
        default:
            throw .unsupported("-\(name) is not supported")
        }
    }

    func result() throws(QEMUSpellingError) -> QEMUSpelling {
        let kernelIRQChip = zip(native, native.dropFirst()).contains { $0 == ("--irqchip", "kernel") } || native.contains("--irqchip=kernel")
        let options = options + (biosTimer && !kernelIRQChip ? ["--bios-timer"] : [])
        guard let kernel else {
            guard let cdrom else {
                throw .unsupported("-kernel or -cdrom is required: SwiftVMM boots a kernel image or a GRUB ISO (no firmware, no disks)")
            }
            // grub.cfg gives the command line and modules.
            guard append.isEmpty else { throw .unsupported("-append needs -kernel; with -cdrom the command line comes from grub.cfg") }
            let arguments = ["boot", cdrom, "--memory", memory ?? QEMUSpelling.defaultMemory] + options + native
            return QEMUSpelling(arguments: arguments, bootOption: "cdrom", warnings: warnings)
        }
        var warnings = warnings
        if let cdrom { warnings.append("-cdrom \(cdrom) ignored: QEMU boots -kernel when both are given") }
        // QEMU's multiboot loader gives the kernel "PATH APPEND" (hw/i386/multiboot.c).
        let arguments = ["boot", kernel, "--cmdline", "\(kernel) \(append)", "--memory", memory ?? QEMUSpelling.defaultMemory]
            + options + native
        return QEMUSpelling(arguments: arguments, warnings: warnings)
    }

    /// Comma-separated modules; each entry's first word is the file, the whole entry its string.
    mutating func initrd(_ value: String) throws(QEMUSpellingError) {
        for entry in QEMUOptionList.split(value) {
            let path = String(entry.prefix { $0 != " " })
            guard !path.isEmpty, !path.contains("=") else { throw .invalid("-initrd", "\"\(entry)\"") }
            options += ["--module", "\(path)=\(entry)"]
        }
    }

    /// `-drive file=ISO,media=cdrom[,if=ide|none,format=raw,index=N,readonly=on]`: a
    /// GRUB ISO, as -cdrom; any other drive is a disk, refused.
    mutating func drive(_ value: String) throws(QEMUSpellingError) {
        var file: String?
        var media = "disk"
        for (key, text) in QEMUOptionList.pairs(value) {
            switch key {
            case "file": file = text
            case "media": media = text
            case "if", "format", "index", "readonly", "id", "bus", "unit", "cache", "aio": break
            default: throw .invalid("-drive", value)
            }
        }
        guard media == "cdrom", let file else {
            throw .unsupported("-drive \(value): disks are not supported; only media=cdrom with a GRUB ISO (file=ISO) is")
        }
        cdrom = file
    }

    mutating func smp(_ value: String) throws(QEMUSpellingError) {
        var cpus: UInt64?
        var topology: [String: UInt64] = [:]
        for (key, text) in QEMUOptionList.pairs(value) {
            guard let number = UInt64(text) else { throw .invalid("-smp", value) }
            switch key {
            case "", "cpus": cpus = number
            case "sockets", "dies", "clusters", "cores", "threads", "maxcpus": topology[key] = number
            default: throw .invalid("-smp", value)
            }
        }
        let product = ["sockets", "dies", "clusters", "cores", "threads"].reduce(UInt64(1)) { $0 * (topology[$1] ?? 1) }
        let count = cpus ?? product
        let flatCores = ["sockets", "dies", "clusters", "threads"].allSatisfy { (topology[$0] ?? 1) == 1 }
            && (topology["cores"] ?? count) == count
        if !flatCores {
            warnings.append("-smp \(value): topology ignored; the guest sees \(count) single-thread cores in one package")
        }
        if let maxCPUs = topology["maxcpus"], maxCPUs != count {
            warnings.append("-smp \(value): maxcpus ignored; there is no CPU hotplug")
        }
        options += ["--cpus", String(count)]
    }

    mutating func memory(_ value: String) throws(QEMUSpellingError) {
        var size: String?
        for (key, text) in QEMUOptionList.pairs(value) {
            switch key {
            case "", "size": size = text
            case "slots", "maxmem": warnings.append("-m \(value): \(key) ignored; there is no memory hotplug")
            default: throw .invalid("-m", value)
            }
        }
        guard let size else { throw .invalid("-m", value) }
        memory = size
    }

    mutating func serial(_ value: String) throws(QEMUSpellingError) {
        guard !serialGiven else {
            warnings.append("-serial \(value) ignored: only one serial port (COM1)")
            return
        }
        serialGiven = true
        switch value {
        case "stdio", "mon:stdio": options += ["--serial", "stdio"]
        case "none", "null": options += ["--serial", "none"]
        case let file where file.hasPrefix("file:"): options += ["--serial", file]
        default: throw .unsupported("-serial \(value) is not supported (stdio, mon:stdio, file:PATH, none, null)")
        }
    }

    mutating func device(_ value: String) throws(QEMUSpellingError) {
        let pairs = QEMUOptionList.pairs(value)
        if pairs.count == 1, pairs[0].key == "", pairs[0].value == "pc-testdev" {
            options.append("--pc-testdev")
            return
        }
        guard pairs.first?.key == "", pairs.first?.value == "isa-debug-exit" else {
            throw .unsupported("-device \(value) is not supported: SwiftVMM has \(QEMUSpelling.devices.joined(separator: ", "))")
        }
        var base = QEMUSpelling.defaultDebugExitBase, size = QEMUSpelling.defaultDebugExitSize
        for (key, text) in pairs.dropFirst() {
            guard let number = parseNumber(text) else { throw .invalid("-device", value) }
            switch key {
            case "iobase": base = number
            case "iosize": size = number
            default: throw .invalid("-device", value)
            }
        }
        options += ["--debug-exit", "\(hexString(base)),\(hexString(size))"]
    }

    mutating func accelerator(_ value: String, option: String) {
        let pairs = QEMUOptionList.pairs(value)
        if pairs.first?.value != "kvm" || pairs.count > 1 {
            warnings.append("\(option)\(value) ignored: SwiftVMM always runs on KVM")
        }
    }

    /// `-global DRIVER.PROPERTY=VALUE`: the PIT's lost-tick policy; anything else is warned about.
    mutating func global(_ value: String) {
        let prefix = "kvm-pit.lost_tick_policy="
        if value.hasPrefix(prefix), let policy = PIT8254.LostTickPolicy(rawValue: String(value.dropFirst(prefix.count))) {
            options += ["--lost-ticks", policy.rawValue]
        } else {
            warnings.append("-global \(value) ignored")
        }
    }

    /// `host`, `max` or `qemu64` (all the host CPU as KVM offers it; a named model SwiftVMM
    /// does not have is refused, so a test needing one is skipped, not run on the wrong
    /// CPU), `vendor=`, and `+feature`, `-feature`, `feature=on|off`: the features SwiftVMM
    /// can set or clear become --cpu-features; any other property is warned about.
    mutating func cpu(_ value: String) throws(QEMUSpellingError) {
        let parts = QEMUOptionList.split(value)
        let model = parts.first ?? ""
        guard ["host", "max", "qemu64"].contains(model) else {
            throw .unsupported("-cpu \(model): CPU model not supported; SwiftVMM offers host, max and qemu64, each the host CPU as KVM offers it")
        }
        if model == "qemu64" {
            warnings.append("-cpu qemu64: the guest sees the host CPU as KVM offers it, not QEMU's qemu64 model")
        }
        var changes: [String] = [], ignored: [String] = []
        for part in parts.dropFirst() {
            if part.hasPrefix("vendor=") {
                switch part.dropFirst("vendor=".count) {
                case "GenuineIntel": options += ["--cpu-vendor", "intel"]
                case "AuthenticAMD": options += ["--cpu-vendor", "amd"]
                default: throw .unsupported("-cpu \(value): \(part) not supported (GenuineIntel or AuthenticAMD)")
                }
                continue
            }
            var name = part, on = true
            if part.hasPrefix("+") || part.hasPrefix("-") {
                on = part.hasPrefix("+")
                name = String(part.dropFirst())
            } else if let equals = part.firstIndex(of: "=") {
                name = String(part[..<equals])
                on = ["on", "true", "yes"].contains(part[part.index(after: equals)...])
            }
            if CPUIDTable.features[name] != nil { changes.append((on ? "+" : "-") + name) } else { ignored.append(part) }
        }
        if !changes.isEmpty { options.append("--cpu-features=" + changes.joined(separator: ",")) }
        if !ignored.isEmpty { warnings.append("-cpu \(value): \(ignored.joined(separator: ",")) ignored") }
    }

    mutating func machine(_ value: String) throws(QEMUSpellingError) {
        for (key, text) in QEMUOptionList.pairs(value) {
            switch key {
            case "", "type":
                if !(text == "pc" || text == "q35" || text.hasPrefix("pc-")) {
                    warnings.append("-machine \(text) ignored: SwiftVMM's machine is a PC")
                }
            case "accel": accelerator(text, option: "-machine accel=")
            case "pit":
                switch text {
                case "on", "true", "yes": biosTimer = true
                case "off", "false", "no": biosTimer = false
                default: throw .invalid("-machine", value)
                }
            case "kernel_irqchip", "kernel-irqchip":
                switch text {
                case "on", "true", "yes":
                    options += ["--irqchip", "kernel"]
                    biosTimer = false
                case "off", "false", "no": options += ["--irqchip", "user"]
                case "split":
                    // KVM's split irqchip keeps the local APICs in the kernel; SwiftVMM's
                    // userspace irqchip models them too.
                    options += ["--irqchip", "user"]
                    warnings.append("-machine kernel_irqchip=split: the local APICs are in userspace too (--irqchip user)")
                default: throw .invalid("-machine", value)
                }
            default: warnings.append("-machine \(key)=\(text) ignored")
            }
        }
    }
}

private func hexString(_ value: UInt64) -> String { "0x" + String(value, radix: 16) }
