import Testing
@testable import SwiftVMM

@Suite("DebugExit")
struct DebugExitTests {
    @Test("a write passes the value to the closure; reads return 0 and do not exit")
    func write() {
        let values = Recorder<UInt32>()
        let device = DebugExit { values.append($0) }
        #expect(device.read(offset: 0, size: 1) == 0)
        #expect(values.values == [])
        device.write(offset: 0, size: 1, value: 0x31)
        device.write(offset: 0, size: 4, value: 0xDEAD_BEEF)
        #expect(values.values == [0x31, 0xDEAD_BEEF])
    }

    @Test("on the port bus at 0xF4")
    func onBus() throws {
        let values = Recorder<UInt32>()
        let bus = PortBus()
        try bus.place(DebugExit { values.append($0) }, at: UInt64(Layout.debugExit), count: 1)
        bus.write(port: 0xF4, size: 1, value: 3)
        bus.write(port: 0xF5, size: 1, value: 9)
        #expect(values.values == [3])
    }
}
