import ArgumentParser
import Testing
@testable import vmm_cli

/// `BootFastPath` is held to ArgumentParser: for every command line it accepts it must
/// build the `BootRequest` ArgumentParser's `Boot` builds, and its table must name every option `boot`
/// documents.
struct BootFastPathTests {
    /// Everything a `BootRequest` holds, as text: two parses agree when these agree. The
    /// CPU feature changes are a dictionary, whose order differs from one instance to the
    /// next, so they are written sorted.
    func fields(_ request: BootRequest) -> String {
        var request = request
        let features = request.machine.cpuFeatures.map { $0.changes.sorted { $0.key < $1.key } }
        request.machine.cpuFeatures = nil
        var text = ""
        dump(request, to: &text)
        dump(features, to: &text)
        return text
    }

    func argumentParser(_ arguments: [String]) throws -> BootRequest {
        let command = try SwiftVMMCommand.parseAsRoot(arguments)
        return try #require(command as? Boot).request
    }

    /// One or more samples of every option, in both spellings where an option takes a value.
    static let commandLines: [[String]] = [
        ["boot", "k.elf"],
        ["boot", "k.elf", "--cpus", "4", "--memory", "1G"],
        ["boot", "--cpus=3", "k.elf", "--memory=512"],
        ["boot", "k.elf", "--serial", "none", "--serial2", "stdio"],
        ["boot", "k.elf", "--serial", "file:/tmp/out", "--serial2=file:/tmp/out2"],
        ["boot", "k.elf", "--vga-text", "--reboot", "--pin", "0,1"],
        ["boot", "k.elf", "--pin", "none"],
        ["boot", "k.elf", "--irqchip", "kernel", "--msr-policy", "strict"],
        ["boot", "k.elf", "--msr", "0xce=0x1a00", "--msr=0x1b=0xfee00900", "--msr-policy=ignore"],
        ["boot", "k.elf", "--cpu-vendor", "amd", "--cpu-features=-x2apic,+invtsc"],
        ["boot", "k.elf", "--cpu-features", "+invtsc"],
        ["boot", "k.elf", "--nested"],
        ["boot", "k.elf", "--no-nested"],
        ["boot", "k.elf", "--exit-on", "^READY$", "--exit-on=done", "--exit-on-status", "3"],
        ["boot", "k.elf", "--fw-cfg", "name=opt/x,string=y", "--fw-cfg=name=opt/f,file=/etc/hostname"],
        ["boot", "k.elf", "--debug-exit", "0x501,2", "--debug-exit=0x600"],
        ["boot", "k.elf", "--lost-ticks", "discard", "--pc-testdev", "--bios-timer"],
        ["boot", "k.elf", "--gdb", "tcp::1234", "--gdb-wait"],
        ["boot", "k.elf", "--trace", "exits", "--trace=summary", "--trace", "exits=/tmp/trace"],
        ["boot", "k.elf", "--timeout", "2.5", "--log-level", "debug"],
        ["boot", "k.elf", "--cmdline", "console=ttyS0 x=1", "--boot-protocol", "mb2"],
        ["boot", "k.elf", "--cmdline", ""],
        ["boot", "k.elf", "--cmdline=a=b c"],
        ["boot", "k.elf", "--module", "a.bin", "--module", "b.bin=str", "--boot-protocol=elf64"],
        ["boot", "--timeout=0", "k.elf"],
    ]

    @Test("the fast path builds what ArgumentParser builds", arguments: commandLines)
    func sameBootAsArgumentParser(_ arguments: [String]) throws {
        let fast = try #require(BootFastPath.parse(arguments), "the fast path declined \(arguments)")
        #expect(fields(fast) == fields(try argumentParser(arguments)))
    }

    /// The comparison above can fail: one changed option shows in the fields.
    @Test func fieldsShowADifference() throws {
        let fast = try #require(BootFastPath.parse(["boot", "k.elf", "--cpus", "2"]))
        #expect(fields(fast) != fields(try argumentParser(["boot", "k.elf", "--cpus", "3"])))
        #expect(fields(fast) != fields(try argumentParser(["boot", "k.elf", "--cpus", "2", "--no-nested"])))
        let features = try #require(BootFastPath.parse(["boot", "k.elf", "--cpu-features=-x2apic,+invtsc"]))
        #expect(fields(features) != fields(try argumentParser(["boot", "k.elf", "--cpu-features=+x2apic,-invtsc"])))
    }

    /// What the fast path leaves to ArgumentParser, which parses it or explains the error.
    @Test("the fast path declines", arguments: [
        [], ["demo"], ["test", "m.json"], ["boot"], ["boot", "--help"], ["boot", "-h"],
        ["boot", "k.elf", "-s"], ["boot", "k.elf", "-S", "--gdb", "tcp::1"], ["boot", "--", "k.elf"],
        ["boot", "k.elf", "other.elf"], ["boot", "k.elf", "--cpus"], ["boot", "k.elf", "--cpus", "x"],
        ["boot", "k.elf", "--cpus", "-1"], ["boot", "k.elf", "--cpus", "1", "--cpus", "2"],
        ["boot", "k.elf", "--nested", "--no-nested"], ["boot", "k.elf", "--reboot=yes"],
        ["boot", "k.elf", "--no-such-option"], ["boot", "k.elf", "--serial", "tcp:1"],
        ["boot", "k.elf", "--memory", "lots"], ["boot", "-kernel", "k.elf"], ["boot", "k.elf", "--version"],
        ["boot", "k.elf", "--cmdline="],
    ])
    func declines(_ arguments: [String]) {
        #expect(BootFastPath.parse(arguments) == nil)
    }

    /// Every long option `boot --help` lists is in the table, and nothing else is.
    @Test func tableMatchesTheHelp() {
        let help = SwiftVMMCommand.helpMessage(for: Boot.self, columns: 10_000)
        #expect(longOptions(in: help[...]) == Set(BootFastPath.options.map(\.name)))
    }
}

/// The long option names a help text shows, `--help` left out.
func longOptions(in help: Substring) -> Set<String> {
    var documented: Set<String> = []
    for word in help.split(whereSeparator: { " ,|/[]()<>\n".contains($0) }) where word.hasPrefix("--") {
        let name = word.dropFirst(2).prefix { $0.isLetter || $0.isNumber || $0 == "-" }
        if !name.isEmpty { documented.insert(String(name)) }
    }
    documented.remove("help")
    return documented
}
