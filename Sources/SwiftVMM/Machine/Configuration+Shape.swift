import SwiftVMMSupport
import SwiftVMMPlatform
import SwiftVMMDevices

extension Machine.Configuration {
    /// What a snapshot keeps of its machine's configuration: everything that decides what
    /// the guest sees of the machine (CPUs, RAM, irqchip, MSR and CPUID policy, devices,
    /// fw_cfg's items), so a machine restored from it is built the same. Outputs, input,
    /// pinning, time limit and `--exit-on` are not part of it: each restore chooses its own.
    public struct Shape: Codable, Equatable, Sendable {
        var cpus: Int
        var memorySize: UInt64
        var interruptController: String
        var msrPolicy: String
        var msrOverrides: [UInt32: UInt64]
        var cpuVendor: String
        var cpuFeatures: [String: Bool]
        var nested: Bool?
        /// fw_cfg's `etc/cmdline` item.
        var commandLine: String
        var firmwareConfigFiles: [FirmwareConfigFile]
        var debugExitPorts: [Range<UInt16>]
        var lostTicks: String
        var testDevice: Bool
        /// COM2 is a device only when it has an output.
        var com2: Bool

        struct FirmwareConfigFile: Codable, Equatable, Sendable {
            var name: String
            var data: HexBytes
        }
    }

    public var shape: Shape {
        Shape(cpus: cpus, memorySize: memorySize, interruptController: interruptController.rawValue,
              msrPolicy: msrPolicy.rawValue, msrOverrides: msrOverrides, cpuVendor: cpuVendor.rawValue,
              cpuFeatures: cpuFeatures, nested: nested, commandLine: commandLine,
              firmwareConfigFiles: firmwareConfigFiles.map { .init(name: $0.name, data: HexBytes($0.data)) },
              debugExitPorts: debugExitPorts, lostTicks: lostTicks.rawValue, testDevice: testDevice,
              com2: serial2Output != nil)
    }

    /// A configuration of `shape` with `serialOutput` (COM2, when the shape has it, writes
    /// nowhere), no input, no time limit; nil when the shape names a setting this SwiftVMM
    /// does not know.
    init?(shape: Shape, serialOutput: any SerialSink) {
        guard let interruptController = InterruptController(rawValue: shape.interruptController),
              let msrPolicy = UnknownMSRPolicy(rawValue: shape.msrPolicy),
              let cpuVendor = CPUIDTable.Vendor(rawValue: shape.cpuVendor),
              let lostTicks = PIT8254.LostTickPolicy(rawValue: shape.lostTicks) else { return nil }
        // The kernel was loaded by the machine the snapshot was taken of; a restore loads none.
        self.init(kernel: .image(name: "snapshot", bytes: []), commandLine: shape.commandLine, cpus: shape.cpus,
                  memorySize: shape.memorySize, serialOutput: serialOutput, interruptController: interruptController,
                  msrPolicy: msrPolicy, msrOverrides: shape.msrOverrides, cpuVendor: cpuVendor,
                  cpuFeatures: shape.cpuFeatures, nested: shape.nested, serial2Output: shape.com2 ? NullSink() : nil)
        firmwareConfigFiles = shape.firmwareConfigFiles.map { .init(name: $0.name, data: $0.data.bytes) }
        debugExitPorts = shape.debugExitPorts
        self.lostTicks = lostTicks
        testDevice = shape.testDevice
    }
}
