extension PCTestDevice {
    /// The scratch register and the 64 KiB of scratch memory. The interrupt lines keep no
    /// level here (the receiving controllers' snapshots hold what was written), and the
    /// flush-page register is write-only.
    package struct Snapshot: Sendable, Equatable, Codable {
        var scratch: UInt32
        var memory: [UInt8]
    }

    /// The device's whole state now (each part under its lock).
    package func snapshot() -> Snapshot {
        Snapshot(scratch: scratchRegister.value.withLock { $0 }, memory: scratchMemory.bytes.withLock { $0 })
    }

    /// Replaces this device's state with `snapshot` (a new device of the same machine layout,
    /// before it runs). Drives no interrupt line: the receiving controllers' snapshots already
    /// hold the levels written to the lines.
    package func restore(_ snapshot: Snapshot) {
        scratchRegister.value.withLock { $0 = snapshot.scratch }
        scratchMemory.bytes.withLock { $0 = snapshot.memory }
    }
}

extension PCTestDevice.Snapshot {
    /// The whole 64 KiB window (a snapshot read from a file is checked before it is restored).
    package var isWellFormed: Bool { memory.count == PCTestDevice.memorySize }
}
