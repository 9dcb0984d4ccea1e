import Testing
@testable import SwiftVMM

/// QEMU's pc-testdev registers, as hw/misc/pc-testdev.c defines them.
@Suite("PCTestDevice")
struct PCTestDeviceTests {
    let lines = (0..<PCTestDevice.lineCount).map { _ in RecordingLine() }
    let forgotten = Recorder<UInt64>()
    let device: PCTestDevice

    init() {
        let forgotten = self.forgotten
        device = PCTestDevice(lines: lines) { forgotten.append($0) }
    }

    @Test("the scratch register: n bytes at byte (port & 3), the rest kept")
    func scratchRegister() {
        let scratch = device.scratch
        scratch.write(offset: 0, size: 4, value: 0x1122_3344)
        #expect(scratch.read(offset: 0, size: 4) == 0x1122_3344)
        #expect(scratch.read(offset: 1, size: 1) == 0x33)
        #expect(scratch.read(offset: 2, size: 2) == 0x1122)
        scratch.write(offset: 1, size: 1, value: 0xAB)
        #expect(scratch.read(offset: 0, size: 4) == 0x1122_AB44)
        scratch.write(offset: 2, size: 2, value: 0xBEEF)
        #expect(scratch.read(offset: 0, size: 4) == 0xBEEF_AB44)
        scratch.write(offset: 1, size: 4, value: 0x0102_0304)   // past the end: the top byte is lost
        #expect(scratch.read(offset: 0, size: 4) == 0x0203_0444)
    }

    @Test("a byte write to port 0x2000 + n sets line n to value ≠ 0 and holds it")
    func interruptLines() {
        let ports = device.interruptLines
        ports.write(offset: 0x0E, size: 1, value: 1)
        #expect(lines[0x0E].levels == [true])
        ports.write(offset: 0x0E, size: 1, value: 0x100)   // only the byte counts
        #expect(lines[0x0E].levels == [true, false])
        ports.write(offset: 23, size: 1, value: 7)
        #expect(lines[23].level)
        ports.write(offset: 24, size: 1, value: 1)         // past the last line: nothing
        #expect(lines.enumerated().allSatisfy { [0x0E, 23].contains($0.offset) || $0.element.levels.isEmpty })
    }

    @Test("a wider write is byte writes to successive lines (realmode's outl to 0x200B)")
    func wideWritesAreSplitIntoBytes() {
        device.interruptLines.write(offset: 0x0B, size: 4, value: 1)
        #expect(lines[0x0B].levels == [true])
        #expect(lines[0x0C].levels == [false] && lines[0x0D].levels == [false] && lines[0x0E].levels == [false])
        device.interruptLines.write(offset: 22, size: 4, value: 0x0101)   // two lines left
        #expect(lines[22].level && lines[23].level)
    }

    @Test("the flush-page register passes 4-byte writes' addresses on")
    func flushPage() {
        device.flushPage.write(offset: 0, size: 4, value: 0x0012_3456)
        device.flushPage.write(offset: 0, size: 2, value: 0x1000)
        #expect(forgotten.values == [0x0012_3456])
    }

    @Test("64 KiB of scratch memory, little-endian, nothing kept past its end")
    func scratchMemory() {
        let memory = device.memory
        memory.write(offset: 0x10, size: 8, value: 0x0102_0304_0506_0708)
        #expect(memory.read(offset: 0x10, size: 8) == 0x0102_0304_0506_0708)
        #expect(memory.read(offset: 0x11, size: 2) == 0x0607)
        memory.write(offset: 0xFFFE, size: 4, value: 0xAABB_CCDD)
        #expect(memory.read(offset: 0xFFFE, size: 4) == 0xCCDD)
    }
}
