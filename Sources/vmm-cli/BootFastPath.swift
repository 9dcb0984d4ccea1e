import Logging
import SwiftVMM

/// `swiftvmm boot KERNEL --name VALUE ...` without ArgumentParser's reflection (`FastPath`).
enum BootFastPath {
    static func parse(_ arguments: [String]) -> BootRequest? {
        FastPath(command: "boot", initial: BootRequest(kernel: ""), storePositional: { $0.kernel = $1 }, options: options).parse(arguments)
    }

    /// Every long name of `boot` and `MachineOptions`. `-s` and `-S` are short names and
    /// take ArgumentParser's path.
    static let options: [FastPath<BootRequest>.Option] = [
        .value("cpus", Int.self) { $0.machine.cpus = $1 },
        .value("memory", MemorySize.self) { $0.machine.memory = $1 },
        .value("serial", SerialOption.self) { $0.machine.serial = $1 },
        .value("serial2", SerialOption.self) { $0.machine.serial2 = $1 },
        .flag("vga-text") { $0.machine.vgaText = true },
        .flag("reboot") { $0.machine.reboot = true },
        .value("pin", PinOption.self) { $0.machine.pin = $1 },
        .value("irqchip", InterruptController.self) { $0.machine.irqchip = $1 },
        .value("msr-policy", UnknownMSRPolicy.self) { $0.machine.msrPolicy = $1 },
        .value("msr", MSROverride.self, .repeating) { $0.machine.msrOverrides.append($1) },
        .value("cpu-vendor", CPUIDTable.Vendor.self) { $0.machine.cpuVendor = $1 },
        .value("cpu-features", CPUFeatureChanges.self) { $0.machine.cpuFeatures = $1 },
        .flag("nested") { $0.machine.nested = true },
        .flag("no-nested", key: "nested") { $0.machine.nested = false },
        .value("exit-on", String.self, .repeating) { $0.machine.exitOn.append($1) },
        .value("exit-on-status", Int32.self) { $0.machine.exitOnStatus = $1 },
        .value("fw-cfg", FirmwareConfigOption.self, .repeating) { $0.machine.firmwareConfigFiles.append($1) },
        .value("debug-exit", DebugExitOption.self, .repeating) { $0.machine.debugExitPorts.append($1) },
        .value("lost-ticks", PIT8254.LostTickPolicy.self) { $0.machine.lostTicks = $1 },
        .flag("pc-testdev") { $0.machine.testDevice = true },
        .flag("bios-timer") { $0.machine.biosTimer = true },
        .value("gdb", GDBDevice.self) { $0.machine.gdb = $1 },
        .flag("gdb-wait") { $0.machine.gdbWait = true },
        .value("trace", TraceArgument.self, .repeating) { $0.machine.trace.append($1) },
        .value("timeout", Double.self) { $0.machine.timeout = $1 },
        .value("log-level", Logger.Level.self) { $0.machine.logLevel = $1 },
        .value("cmdline", String.self) { $0.cmdline = $1 },
        .value("module", String.self, .repeating) { $0.modules.append($1) },
        .value("boot-protocol", BootProtocolArgument.self) { $0.bootProtocol = $1 },
        .value("snapshot-on", String.self) { $0.snapshotOn = $1 },
        .value("save", String.self) { $0.save = $1 },
    ]
}
