import SwiftVMMKVM
import SwiftVMMMemory
import SwiftVMMPlatform

/// A running machine frozen at an instruction boundary (`Machine.snapshot()`): its RAM as
/// a copy-on-write image, every vCPU, every device, and the time on its clocks. Any number
/// of machines continue from it (`fork()`, `Machine(restoring:)`), each sharing every page
/// of RAM it does not write.
public struct MachineSnapshot: Sendable {
    /// The machine's configuration (a fork keeps its shape: CPUs, RAM, irqchip, devices).
    public let configuration: Machine.Configuration
    let ram: RAMImage
    let vcpus: [VCPUSnapshot]
    let devices: DeviceSnapshots
    /// The machine clock (`MachineClock`) when the snapshot was taken.
    let machineTime: UInt64
    /// The boot processor's TSC at the same moment.
    let tsc: UInt64
    /// The guest TSC rate (kHz) the vCPUs ran at.
    let tscKHz: UInt32
    /// Each vCPU's CPUID: a machine restored on another host must see the same.
    let cpuid: [[CPUIDEntry]]

    /// How many 4 KiB pages of RAM the snapshot holds (the rest was zero).
    public var ramPageCount: Int { ram.dataPageCount }

    /// A new machine that continues from this snapshot, with this snapshot's configuration
    /// or `configuration` (its outputs, input, time limit and `--exit-on` patterns; its
    /// shape must be the snapshot's).
    public func fork(_ configuration: Machine.Configuration? = nil) throws(MachineError) -> Machine {
        try Machine(restoring: self, configuration: configuration ?? self.configuration)
    }
}
