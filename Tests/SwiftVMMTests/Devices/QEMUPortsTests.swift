import Testing
@testable import SwiftVMM

/// The ports kernels written for QEMU and Bochs poke: 0xE9, 0x8900, 0x80, 0x92, and where
/// debug-exit ports go.
struct QEMUPortsTests {
    final class Count: Sendable {
        private let value = AnnotatedMutex(0)
        func increment() { value.withLock { $0 += 1 } }
        var count: Int { value.withLock { $0 } }
    }

    @Test func debugConsoleWritesToTheSerialSinkAndReadsE9() {
        let sink = CollectingSink()
        let console = BochsDebugConsole(sink: sink)
        #expect(console.read(offset: 0, size: 1) == 0xE9)
        for byte in "hi\n".utf8 { console.write(offset: 0, size: 1, value: UInt32(byte)) }
        #expect(sink.text == "hi\n")
    }

    @Test func bochsShutdownNeedsTheWholeString() {
        let offs = Count()
        let port = BochsShutdown { offs.increment() }
        func send(_ text: String) { for byte in text.utf8 { port.write(offset: 0, size: 1, value: UInt32(byte)) } }
        send("Shutdow")
        #expect(offs.count == 0)
        send("x")
        send("n")
        #expect(offs.count == 0, "a wrong byte starts the match again")
        send("SShutdown")
        #expect(offs.count == 1, "a repeated S restarts the match")
        send("shutdown")
        #expect(offs.count == 1, "case matters")
        send("Shutdown")
        #expect(offs.count == 2)
        #expect(port.read(offset: 0, size: 1) == 0)
    }

    @Test func postPortIsQuiet() {
        let post = POSTPort()
        post.write(offset: 0, size: 1, value: 0x42)
        #expect(post.read(offset: 0, size: 1) == 0xFF)
    }

    @Test func port92ResetsOnARisingBit0AndKeepsA20On() {
        let resets = Count()
        let port = SystemControlPortA { resets.increment() }
        #expect(port.read(offset: 0, size: 1) == 0x02, "A20 on")
        port.write(offset: 0, size: 1, value: 0x00)          // A20 "off": stays on under KVM
        #expect(port.read(offset: 0, size: 1) == 0x02)
        #expect(resets.count == 0)
        port.write(offset: 0, size: 1, value: 0x03)
        #expect(resets.count == 1)
        port.write(offset: 0, size: 1, value: 0x03)
        #expect(resets.count == 1, "only a 0 → 1 change resets")
        port.write(offset: 0, size: 1, value: 0x02)
        port.write(offset: 0, size: 1, value: 0x01)
        #expect(resets.count == 2)
    }

    @Test func debugExitRangesMergeWithF4() {
        #expect(Machine.debugExitRanges([]) == [0xF4..<0xF5])
        #expect(Machine.debugExitRanges([0xF4..<0xF8]) == [0xF4..<0xF8])
        #expect(Machine.debugExitRanges([0xF0..<0xF4]) == [0xF0..<0xF5], "touching ranges merge")
        #expect(Machine.debugExitRanges([0x501..<0x503]) == [0xF4..<0xF5, 0x501..<0x503])
        #expect(Machine.debugExitRanges([0x502..<0x504, 0x501..<0x503]) == [0xF4..<0xF5, 0x501..<0x504])
    }
}
