import SwiftVMMDevices
import SwiftVMMMemory
import SwiftVMMPlatform

/// The devices kernels written for QEMU expect beyond the PC: fw_cfg, the Bochs debug
/// console and shutdown ports, the POST port, fast A20/reset, the debug-exit port (0xF4,
/// and wherever QEMU's `-device isa-debug-exit,iobase=,iosize=` put more), and with
/// `testDevice` QEMU's pc-testdev. Placed after the PC's devices, so a debug-exit range on
/// one of their ports is refused (status 2). `line(n)` is interrupt line n (ISA IRQ n
/// below 16, else I/O APIC pin n) for the test device.
extension Machine {
    /// The QEMU devices whose registers a snapshot keeps.
    struct QEMUDevices {
        let firmwareConfig: FirmwareConfig
        let systemControlPortA: SystemControlPortA
        let testDevice: PCTestDevice?
    }

    static func placeQEMUPorts(on ports: PortBus, mmio: MMIOBus, configuration: Configuration, memory: GuestMemory,
                               serialOutput: any SerialSink, control: RunControl,
                               line: (Int) -> any InterruptLine) throws -> QEMUDevices {
        let items: FirmwareConfigItems
        do {
            items = try FirmwareConfigItems(
                cpuCount: configuration.cpus, ramSize: configuration.memorySize, commandLine: configuration.commandLine,
                memoryMap: memory.layout.memoryMap, files: configuration.firmwareConfigFiles)
        } catch {
            throw MachineError.invalidConfiguration("\(error)")
        }
        let firmwareConfig = FirmwareConfig(items: items, memory: GuestDMAMemory(memory: memory))
        try ports.place(firmwareConfig.selectorAndData, at: UInt64(Layout.firmwareConfig), count: 2)
        try ports.place(firmwareConfig.dma, at: UInt64(Layout.firmwareConfigDMA), count: 8)
        var testDevice: PCTestDevice?
        if configuration.testDevice {
            let device = PCTestDevice(lines: (0..<PCTestDevice.lineCount).map(line)) { [memory] in
                memory.forgetHostMapping(ofPageAt: $0)
            }
            try ports.place(device.scratch, at: UInt64(PCTestDevice.Address.scratch), count: 4)
            try ports.place(device.flushPage, at: UInt64(PCTestDevice.Address.flushPage), count: 4)
            try ports.place(device.scratch, at: UInt64(PCTestDevice.Address.scratchByteWise), count: 4)
            try ports.place(device.interruptLines, at: UInt64(PCTestDevice.Address.interruptLines),
                            count: UInt64(PCTestDevice.lineCount))
            try mmio.place(device.memory, at: PCTestDevice.Address.memory, count: UInt64(PCTestDevice.memorySize))
            testDevice = device
        } else {
            try ports.place(BochsDebugConsole(sink: serialOutput), at: UInt64(Layout.bochsDebugConsole), count: 1)
        }
        try ports.place(BochsShutdown { control.finish(.poweredOff) }, at: UInt64(Layout.bochsShutdown), count: 1)
        try ports.place(POSTPort(), at: UInt64(Layout.postCode), count: 1)
        let portA = SystemControlPortA { control.finish(.reset) }
        try ports.place(portA, at: UInt64(Layout.systemControlPortA), count: 1)
        for range in debugExitRanges(configuration.debugExitPorts) {
            do {
                try ports.place(DebugExit { control.finish(.debugExit($0)) }, at: range.lowerBound, count: UInt64(range.count))
            } catch {
                throw MachineError.invalidConfiguration("debug-exit ports: \(error)")
            }
        }
        return QEMUDevices(firmwareConfig: firmwareConfig, systemControlPortA: portA, testDevice: testDevice)
    }

    /// SwiftVMM's own debug-exit port 0xF4 and the `extra` ranges, overlapping or touching
    /// ranges merged (QEMU scripts often say `iobase=0xf4,iosize=4`), as port-bus ranges
    /// (`Range<UInt64>`, as the bus keeps them: a `[Range<UInt16>]` would cost every boot
    /// the runtime's scan of every conformance record, for `UInt16: Comparable`).
    static func debugExitRanges(_ extra: [Range<UInt16>]) -> [Range<UInt64>] {
        let own = UInt64(Layout.debugExit)..<UInt64(Layout.debugExit) + 1
        var merged: [Range<UInt64>] = []
        let given = extra.map { UInt64($0.lowerBound)..<UInt64($0.upperBound) }
        for range in ([own] + given).filter({ !$0.isEmpty }).sorted(by: { $0.lowerBound < $1.lowerBound }) {
            if let last = merged.last, range.lowerBound <= last.upperBound {
                merged[merged.count - 1] = last.lowerBound..<max(last.upperBound, range.upperBound)
            } else {
                merged.append(range)
            }
        }
        return merged
    }
}

/// Guest RAM for fw_cfg's DMA transfers.
private struct GuestDMAMemory: DMAMemory {
    let memory: GuestMemory
    func read(at address: UInt64, count: Int) throws -> [UInt8] { try memory.read(at: address, count: count) }
    func write(_ bytes: [UInt8], at address: UInt64) throws { try memory.write(bytes, at: address) }
}
