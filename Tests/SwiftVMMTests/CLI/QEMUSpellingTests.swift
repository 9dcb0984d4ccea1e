import Testing
@testable import vmm_cli

/// QEMU's spelling → swiftvmm boot arguments, without running anything.
struct QEMUSpellingTests {
    func spelled(_ arguments: [String]) throws -> QEMUSpelling {
        guard case .boot(let spelling) = try QEMUSpelling.translate(arguments) else {
            Issue.record("not a boot: \(arguments)")
            return QEMUSpelling(arguments: [], warnings: [])
        }
        return spelling
    }

    /// The translation without the `--bios-timer` nearly every one gets
    /// (`biosTimerUnlessThePITIsOff` checks where it goes).
    func boot(_ arguments: [String]) throws -> QEMUSpelling {
        var spelling = try spelled(arguments)
        spelling.arguments.removeAll { $0 == "--bios-timer" }
        return spelling
    }

    /// SeaBIOS leaves the PIT ticking into IRQ 0; SwiftVMM's spelling of that is
    /// --bios-timer, which needs SwiftVMM's irqchip, and -machine pit=off turns it off.
    @Test func biosTimerUnlessThePITIsOff() throws {
        func hasTimer(_ arguments: [String]) throws -> Bool { try spelled(arguments).arguments.contains("--bios-timer") }
        #expect(try hasTimer(["-kernel", "k"]))
        #expect(try hasTimer(["-cdrom", "cos.iso"]))
        #expect(try hasTimer(["-kernel", "k", "-machine", "pc,pit=on"]))
        #expect(try !hasTimer(["-kernel", "k", "-machine", "pit=off"]))
        #expect(try !hasTimer(["-kernel", "k", "-machine", "kernel_irqchip=on"]))
        #expect(try !hasTimer(["-kernel", "k", "--irqchip", "kernel"]))
        #expect(try !hasTimer(["-kernel", "k", "--irqchip=kernel"]))
        #expect(throws: QEMUSpellingError.invalid("-machine", "pit=sometimes")) { try spelled(["-kernel", "k", "-machine", "pit=sometimes"]) }
    }

    @Test("swiftvmm boot kernel.elf -s -S: swiftvmm's own shorthands for --gdb tcp::1234 --gdb-wait")
    func nativeGDBShorthands() throws {
        let boot = try Boot.parse(["kernel.elf", "--cpus", "4", "-s", "-S"])
        #expect(boot.machine.gdbDefaultPort && boot.machine.gdbWait && boot.machine.cpus == 4)
    }

    @Test func detection() {
        #expect(QEMUSpelling.applies(program: "/usr/local/bin/qemu-system-x86_64", arguments: []))
        #expect(QEMUSpelling.applies(program: "swiftvmm", arguments: ["boot", "-kernel", "k"]))
        #expect(QEMUSpelling.applies(program: "swiftvmm", arguments: ["boot", "k", "-smp", "2"]))
        #expect(!QEMUSpelling.applies(program: "swiftvmm", arguments: ["boot", "k", "--cpus", "2"]))
        #expect(!QEMUSpelling.applies(program: "swiftvmm", arguments: ["boot", "k", "--cpus", "4", "-s", "-S"]), "swiftvmm's own -s/-S")
        #expect(!QEMUSpelling.applies(program: "swiftvmm", arguments: ["boot", "-h"]))
        #expect(!QEMUSpelling.applies(program: "swiftvmm", arguments: ["demo", "-kernel"]))
        #expect(!QEMUSpelling.applies(program: "qemu-system-x86_64-not", arguments: []))
    }

    /// The command line is QEMU's multiboot one: the kernel path as given, a space, -append.
    @Test func kernelAppendAndDefaults() throws {
        #expect(try boot(["-kernel", "k.elf", "-append", "a b"]).arguments
                == ["boot", "k.elf", "--cmdline", "k.elf a b", "--memory", "128M"])
        #expect(try boot(["-kernel", "./x/k.elf"]).arguments
                == ["boot", "./x/k.elf", "--cmdline", "./x/k.elf ", "--memory", "128M"])
        #expect(try boot(["--kernel", "k", "-m", "1G"]).arguments == ["boot", "k", "--cmdline", "k ", "--memory", "1G"])
        #expect(try boot(["-kernel", "k", "-m", "size=512,slots=2,maxmem=2G"]).arguments.suffix(2) == ["--memory", "512"])
    }

    @Test func initrdEntriesBecomeModules() throws {
        let spelling = try boot(["-kernel", "k", "-initrd", "a.bin x=1 y,b.bin,c.bin with,,comma"])
        #expect(Array(spelling.arguments.dropFirst(6)) == ["--module", "a.bin=a.bin x=1 y", "--module", "b.bin=b.bin",
                                                           "--module", "c.bin=c.bin with,comma"])
        #expect(throws: QEMUSpellingError.invalid("-initrd", "\"\"")) { try boot(["-kernel", "k", "-initrd", "a,"]) }
    }

    @Test func smpTopology() throws {
        #expect(try boot(["-kernel", "k", "-smp", "4"]).arguments.suffix(2) == ["--cpus", "4"])
        #expect(try boot(["-kernel", "k", "-smp", "cpus=3"]).warnings.isEmpty)
        let flat = try boot(["-kernel", "k", "-smp", "4,cores=4,threads=1"])
        #expect(flat.arguments.suffix(2) == ["--cpus", "4"] && flat.warnings.isEmpty)
        let threads = try boot(["-kernel", "k", "-smp", "4,cores=2,threads=2"])
        #expect(threads.arguments.suffix(2) == ["--cpus", "4"])
        #expect(threads.warnings.count == 1 && threads.warnings[0].contains("topology ignored"))
        #expect(try boot(["-kernel", "k", "-smp", "sockets=2,cores=3"]).arguments.suffix(2) == ["--cpus", "6"])
        #expect(try boot(["-kernel", "k", "-smp", "2,maxcpus=8"]).warnings.count == 1)
        #expect(throws: QEMUSpellingError.invalid("-smp", "4,books=2")) { try boot(["-kernel", "k", "-smp", "4,books=2"]) }
    }

    @Test func serialDevicesAndFirmwareConfig() throws {
        let spelling = try boot(["-kernel", "k", "-serial", "mon:stdio", "-serial", "file:/tmp/x",
                                 "-device", "isa-debug-exit", "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04",
                                 "-fw_cfg", "name=opt/a,string=x,,y"])
        #expect(Array(spelling.arguments.dropFirst(6)) == ["--serial", "stdio", "--debug-exit", "0x501,0x2",
                                                           "--debug-exit", "0xf4,0x4", "--fw-cfg", "name=opt/a,string=x,,y"])
        #expect(spelling.warnings == ["-serial file:/tmp/x ignored: only one serial port (COM1)"])
        #expect(try boot(["-kernel", "k", "-serial", "null"]).arguments.suffix(2) == ["--serial", "none"])
        #expect(throws: QEMUSpellingError.self) { try boot(["-kernel", "k", "-serial", "tcp::4444"]) }
        #expect(throws: QEMUSpellingError.self) { try boot(["-kernel", "k", "-device", "virtio-net-pci"]) }
        #expect(throws: QEMUSpellingError.invalid("-device", "isa-debug-exit,iobase=zz")) {
            try boot(["-kernel", "k", "-device", "isa-debug-exit,iobase=zz"])
        }
    }

    /// -s is --gdb tcp::1234, -gdb DEV is --gdb DEV, -S is --gdb-wait.
    @Test func gdbFlags() throws {
        #expect(try boot(["-kernel", "k", "-s"]).arguments.suffix(2) == ["--gdb", "tcp::1234"])
        #expect(try boot(["-kernel", "k", "-gdb", "tcp:127.0.0.1:9000", "-S"]).arguments.suffix(3)
                == ["--gdb", "tcp:127.0.0.1:9000", "--gdb-wait"])
    }

    @Test func acceptedQuietlyOrWithAWarning() throws {
        let quiet = try boot(["-kernel", "k", "-nographic", "-display", "none", "-no-reboot", "-enable-kvm",
                              "-accel", "kvm", "-cpu", "host", "-machine", "pc,accel=kvm", "-M", "q35",
                              "-nodefaults", "-no-user-config", "-monitor", "none", "-name", "test"])
        #expect(quiet.warnings == [])
        #expect(quiet.arguments == ["boot", "k", "--cmdline", "k ", "--memory", "128M"])
        let loud = try boot(["-kernel", "k", "-accel", "tcg", "-machine", "microvm", "-display", "gtk",
                             "-global", "isa-fdc.driveA=x", "-machine", "pc,kernel-irqchip=split"])
        #expect(loud.warnings.count == 5, "\(loud.warnings)")
        #expect(loud.arguments == ["boot", "k", "--cmdline", "k ", "--memory", "128M", "--irqchip", "user"])
    }

    /// kvm-unit-tests' x86/run line, as its runner builds it for apic.flat's xapic entry.
    @Test func kvmUnitTestsCommandLine() throws {
        let spelling = try boot(["--no-reboot", "-nodefaults", "-global", "kvm-pit.lost_tick_policy=discard",
                                 "-device", "pc-testdev", "-device", "isa-debug-exit,iobase=0xf4,iosize=0x4",
                                 "-display", "none", "-serial", "stdio", "-machine", "accel=kvm",
                                 "-kernel", "x86/apic.flat", "-smp", "2", "-cpu", "qemu64,-x2apic,+tsc-deadline",
                                 "-initrd", "/tmp/env"])
        #expect(spelling.arguments == ["boot", "x86/apic.flat", "--cmdline", "x86/apic.flat ", "--memory", "128M",
                                       "--lost-ticks", "discard", "--pc-testdev", "--debug-exit", "0xf4,0x4",
                                       "--serial", "stdio", "--cpus", "2", "--cpu-features=-x2apic,+tsc-deadline",
                                       "--module", "/tmp/env=/tmp/env"])
        #expect(spelling.warnings == ["-cpu qemu64: the guest sees the host CPU as KVM offers it, not QEMU's qemu64 model"])
        #expect(try boot(["-kernel", "k", "-global", "kvm-pit.lost_tick_policy=delay"]).arguments.suffix(2) == ["--lost-ticks", "delay"])
        #expect(try boot(["-kernel", "k", "-global", "kvm-pit.lost_tick_policy=slew"]).warnings == ["-global kvm-pit.lost_tick_policy=slew ignored"])
        #expect(try boot(["-kernel", "k", "-overcommit", "cpu-pm=on"]).warnings.count == 1, "svm_pause_filter's option")
    }

    /// `-device help` and `-device ?` list the devices as QEMU does (kvm-unit-tests greps
    /// the list for "pc-testdev"); other devices are refused naming those there are.
    @Test func deviceListing() throws {
        #expect(try QEMUSpelling.translate(["-device", "help"]) == .deviceList)
        #expect(try QEMUSpelling.translate(["-device", "?"]) == .deviceList)
        #expect(QEMUSpelling.deviceList == "Misc devices:\nname \"isa-debug-exit\", bus ISA\nname \"pc-testdev\", bus ISA")
        #expect(throws: QEMUSpellingError.unsupported("-device intel-iommu,intremap=on is not supported: SwiftVMM has isa-debug-exit, pc-testdev")) {
            try boot(["-kernel", "k", "-device", "intel-iommu,intremap=on"])
        }
        #expect(throws: QEMUSpellingError.self) { try boot(["-kernel", "k", "-device", "pc-testdev,x=1"]) }
    }

    /// Scripts parse QEMU's version from the first line of -version and -help.
    @Test func versionLineParsesAsQEMUs() throws {
        let fields = QEMUSpelling.versionLine.split(whereSeparator: { $0 == " " || $0 == "." })
        #expect(fields.prefix(6).map(String.init) == ["QEMU", "emulator", "version", "7", "2", "0"])
        #expect(QEMUSpelling.versionLine.contains("SwiftVMM") && QEMUSpelling.versionLine.contains("not QEMU"))
        #expect(QEMUSpelling.usage.split(separator: "\n").first.map(String.init) == QEMUSpelling.versionLine)
    }

    /// host, max and qemu64 are the host CPU; other models are refused (the suite then
    /// skips the test with that line); vendor= becomes --cpu-vendor.
    @Test func cpuModelsAndVendor() throws {
        #expect(throws: QEMUSpellingError.unsupported("-cpu Skylake-Client: CPU model not supported; SwiftVMM offers host, max and qemu64, each the host CPU as KVM offers it")) {
            try boot(["-kernel", "k", "-cpu", "Skylake-Client"])
        }
        #expect(try boot(["-kernel", "k", "-cpu", "max,vendor=GenuineIntel"]).arguments.suffix(2) == ["--cpu-vendor", "intel"])
        #expect(try boot(["-kernel", "k", "-cpu", "host,vendor=AuthenticAMD"]).arguments.suffix(2) == ["--cpu-vendor", "amd"])
        #expect(throws: QEMUSpellingError.self) { try boot(["-kernel", "k", "-cpu", "host,vendor=CyrixInstead"]) }
    }

    /// kernel_irqchip (or kernel-irqchip) on is KVM's irqchip; off and split are SwiftVMM's.
    @Test func machineKernelIRQChip() throws {
        #expect(try boot(["-kernel", "k", "-machine", "pc,kernel_irqchip=on"]).arguments.suffix(2) == ["--irqchip", "kernel"])
        let off = try boot(["-kernel", "k", "-M", "q35,kernel-irqchip=off"])
        #expect(off.arguments.suffix(2) == ["--irqchip", "user"] && off.warnings.isEmpty)
        #expect(throws: QEMUSpellingError.invalid("-machine", "kernel_irqchip=maybe")) {
            try boot(["-kernel", "k", "-machine", "kernel_irqchip=maybe"])
        }
    }

    /// CPU features SwiftVMM knows become --cpu-features; others are warned about.
    @Test func cpuFeatures() throws {
        let spelling = try boot(["-kernel", "k", "-cpu", "host,-x2apic,+invtsc,pdpe1gb=off,-arch-capabilities,+vmx"])
        #expect(spelling.arguments.last == "--cpu-features=-x2apic,+invtsc,-pdpe1gb,-arch-capabilities")
        #expect(spelling.warnings == ["-cpu host,-x2apic,+invtsc,pdpe1gb=off,-arch-capabilities,+vmx: +vmx ignored"])
    }

    /// swiftvmm's own options pass through after the translated ones, with their values.
    @Test func nativeOptionsMixIn() throws {
        let spelling = try boot(["-kernel", "k", "--timeout", "5", "--gdb-wait", "-smp", "2", "--exit-on=PASS"])
        #expect(spelling.arguments == ["boot", "k", "--cmdline", "k ", "--memory", "128M", "--cpus", "2",
                                       "--timeout", "5", "--gdb-wait", "--exit-on=PASS"])
    }

    @Test func refusedAndHelp() throws {
        for option in ["-bios", "-hda", "-drive", "-pflash"] {
            #expect(throws: QEMUSpellingError.self, "\(option)") { try boot(["-kernel", "k", option, "x"]) }
        }
        #expect(throws: QEMUSpellingError.unsupported("-kernel or -cdrom is required: SwiftVMM boots a kernel image or a GRUB ISO (no firmware, no disks)")) {
            try boot(["-smp", "2"])
        }
        #expect(throws: QEMUSpellingError.unsupported("-usb is not supported")) { try boot(["-kernel", "k", "-usb"]) }
        #expect(throws: QEMUSpellingError.missingValue("-kernel")) { try boot(["-kernel"]) }
        #expect(throws: QEMUSpellingError.self) { try boot(["disk.img", "-kernel", "k"]) }
        #expect(try QEMUSpelling.translate(["-kernel", "k", "-h"]) == .help)
        #expect(try QEMUSpelling.translate(["--version"]) == .version)
    }

    /// Composite's run script: a GRUB ISO through -cdrom (or -drive media=cdrom), with -boot.
    @Test func cdrom() throws {
        let composite = try boot(["-enable-kvm", "-cpu", "max", "-smp", "16,cores=16,threads=1,sockets=1", "-m", "8192",
                                  "-cdrom", "cos.iso", "-no-reboot", "-nographic", "-s", "-nic", "none"])
        #expect(composite.arguments == ["boot", "cos.iso", "--memory", "8192", "--cpus", "16", "--gdb", "tcp::1234"])
        #expect(composite.bootOption == "cdrom" && composite.warnings.isEmpty)
        #expect(try boot(["-drive", "file=cos.iso,media=cdrom,if=ide", "-boot", "d", "-S", "-s"]).arguments
                == ["boot", "cos.iso", "--memory", "128M", "--gdb-wait", "--gdb", "tcp::1234"])
        let both = try boot(["-kernel", "k", "-cdrom", "cos.iso"])
        #expect(both.arguments.prefix(2) == ["boot", "k"] && both.bootOption == "kernel")
        #expect(both.warnings == ["-cdrom cos.iso ignored: QEMU boots -kernel when both are given"])
        #expect(throws: QEMUSpellingError.unsupported("-drive file=disk.img,if=virtio: disks are not supported; only media=cdrom with a GRUB ISO (file=ISO) is")) {
            try boot(["-drive", "file=disk.img,if=virtio"])
        }
        #expect(throws: QEMUSpellingError.unsupported("-append needs -kernel; with -cdrom the command line comes from grub.cfg")) {
            try boot(["-cdrom", "cos.iso", "-append", "x"])
        }
    }
}
