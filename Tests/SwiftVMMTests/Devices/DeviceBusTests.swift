import Synchronization
import Testing
@testable import SwiftVMM
@testable import SwiftVMMSupport
@testable import SwiftVMMDevices

/// A port device that answers reads with `base + offset` and records every access.
final class RecordingPortDevice: PortDevice {
    enum Access: Equatable { case read(UInt16, Int), write(UInt16, Int, UInt32) }
    let name: String
    private let log = AnnotatedMutex<[Access]>([])
    var accesses: [Access] { log.withLock { $0 } }

    init(_ name: String) { self.name = name }

    func read(offset: UInt16, size: Int) -> UInt32 {
        log.withLock { $0.append(.read(offset, size)) }
        return 0x100 + UInt32(offset)
    }

    func write(offset: UInt16, size: Int, value: UInt32) {
        log.withLock { $0.append(.write(offset, size, value)) }
    }
}

final class RecordingMMIODevice: MMIODevice {
    enum Access: Equatable { case read(UInt64, Int), write(UInt64, Int, UInt64) }
    private let log = AnnotatedMutex<[Access]>([])
    var accesses: [Access] { log.withLock { $0 } }
    func read(offset: UInt64, size: Int) -> UInt64 { log.withLock { $0.append(.read(offset, size)) }; return 0xAB }
    func write(offset: UInt64, size: Int, value: UInt64) { log.withLock { $0.append(.write(offset, size, value)) } }
}

@Suite("DeviceBus")
struct DeviceBusTests {
    func name(_ found: (device: any PortDevice, offset: UInt64)?) -> String? {
        (found?.device as? RecordingPortDevice)?.name
    }

    @Test("lookup at the first and last address of a range and just outside")
    func lookupEdges() throws {
        let bus = PortBus()
        try bus.place(RecordingPortDevice("com1"), at: 0x3F8, count: 8)
        #expect(name(bus.find(0x3F8)) == "com1")
        #expect(bus.find(0x3F8)?.offset == 0)
        #expect(name(bus.find(0x3FF)) == "com1")
        #expect(bus.find(0x3FF)?.offset == 7)
        #expect(bus.find(0x3F7) == nil)
        #expect(bus.find(0x400) == nil)
    }

    @Test("many devices placed out of order are all found")
    func manyDevices() throws {
        let bus = PortBus()
        let bases: [UInt64] = [0x3F8, 0x60, 0xF4, 0x2F8, 0x20, 0x40, 0x70, 0x64]
        for base in bases { try bus.place(RecordingPortDevice("dev\(hex(base))"), at: base, count: base == 0x3F8 || base == 0x2F8 ? 8 : 2) }
        for base in bases {
            #expect(name(bus.find(base)) == "dev\(hex(base))")
            #expect(name(bus.find(base + 1)) == "dev\(hex(base))")
        }
        #expect(bus.find(0x62) == nil)
        #expect(bus.find(0) == nil)
        #expect(bus.find(0xFFFF) == nil)
    }

    @Test("a range across 64 Ki (the end of the directly indexed addresses) is found on both sides")
    func acrossTheDirectIndex() throws {
        let bus = PortBus()
        try bus.place(RecordingPortDevice("low"), at: 0x20, count: 2)
        try bus.place(RecordingPortDevice("across"), at: 0xFFF0, count: 0x20)
        #expect(name(bus.find(0xFFEF)) == nil)
        #expect(bus.find(0xFFFF)?.offset == 0xF)
        #expect(bus.find(0x1_0000)?.offset == 0x10)
        #expect(name(bus.find(0x1_000F)) == "across")
        #expect(bus.find(0x1_0010) == nil)
        #expect(name(bus.find(0x21)) == "low")
    }

    @Test("more low devices than the direct index holds are still all found")
    func moreDevicesThanTheDirectIndexHolds() throws {
        let bus = PortBus()
        for i: UInt64 in (0..<300).reversed() { try bus.place(RecordingPortDevice("d\(i)"), at: 0x100 + 4 * i, count: 2) }
        for i: UInt64 in [0, 1, 254, 255, 299] {
            #expect(name(bus.find(0x100 + 4 * i + 1)) == "d\(i)")
            #expect(bus.find(0x100 + 4 * i + 2) == nil)
        }
    }

    @Test("adjacent ranges are allowed")
    func adjacent() throws {
        let bus = PortBus()
        try bus.place(RecordingPortDevice("a"), at: 0x10, count: 4)
        try bus.place(RecordingPortDevice("b"), at: 0x14, count: 4)
        try bus.place(RecordingPortDevice("c"), at: 0x0C, count: 4)
        #expect(name(bus.find(0x13)) == "a")
        #expect(name(bus.find(0x14)) == "b")
        #expect(name(bus.find(0x0F)) == "c")
    }

    @Test("overlapping ranges are refused, naming both")
    func overlap() throws {
        let bus = PortBus()
        try bus.place(RecordingPortDevice("com1"), at: 0x3F8, count: 8)
        #expect(throws: DevicePlacementError.overlap(0x3FF..<0x401, 0x3F8..<0x400)) {
            try bus.place(RecordingPortDevice("x"), at: 0x3FF, count: 2)
        }
        #expect(throws: DevicePlacementError.overlap(0x3F0..<0x3F9, 0x3F8..<0x400)) {
            try bus.place(RecordingPortDevice("x"), at: 0x3F0, count: 9)
        }
        #expect(throws: DevicePlacementError.overlap(0x3FA..<0x3FB, 0x3F8..<0x400)) {
            try bus.place(RecordingPortDevice("x"), at: 0x3FA, count: 1)
        }
        #expect(throws: DevicePlacementError.overlap(0x300..<0x500, 0x3F8..<0x400)) {
            try bus.place(RecordingPortDevice("x"), at: 0x300, count: 0x200)
        }
        #expect(DevicePlacementError.overlap(0x3FF..<0x401, 0x3F8..<0x400).description
                == "device range 0x3ff-0x401 overlaps 0x3f8-0x400")
        // The refused device is not on the bus.
        #expect(name(bus.find(0x3F0)) == nil)
        #expect(name(bus.find(0x3FF)) == "com1")
    }

    @Test("empty ranges are refused")
    func empty() {
        let bus = PortBus()
        #expect(throws: DevicePlacementError.empty(0x80..<0x80)) {
            try bus.place(RecordingPortDevice("x"), at: 0x80, count: 0)
        }
        #expect(DevicePlacementError.empty(0x80..<0x80).description == "empty device range at 0x80")
        #expect(bus.find(0x80) == nil)
    }

    @Test("port accesses reach the device as offsets with their size")
    func routing() throws {
        let bus = PortBus()
        let device = RecordingPortDevice("d")
        try bus.place(device, at: 0x3F8, count: 8)
        #expect(bus.read(port: 0x3FD, size: 1) == 0x105)
        bus.write(port: 0x3F8, size: 2, value: 0x1234)
        #expect(device.accesses == [.read(5, 1), .write(0, 2, 0x1234)])
        #expect(bus.unhandled.load(ordering: .relaxed) == 0)
    }

    @Test("unhandled port reads return all ones for the access size and are counted")
    func unhandledPorts() {
        let bus = PortBus()
        #expect(bus.read(port: 0x80, size: 1) == 0xFF)
        #expect(bus.read(port: 0x80, size: 2) == 0xFFFF)
        #expect(bus.read(port: 0x80, size: 4) == 0xFFFF_FFFF)
        #expect(bus.unhandled.load(ordering: .relaxed) == 3)
        bus.write(port: 0x80, size: 1, value: 0)
        #expect(bus.unhandled.load(ordering: .relaxed) == 4)
    }

    @Test("MMIO: routing, all ones for unhandled reads of 1, 2, 4 and 8 bytes")
    func mmio() throws {
        let bus = MMIOBus()
        let device = RecordingMMIODevice()
        try bus.place(device, at: 0xFEC0_0000, count: 0x1000)
        #expect(bus.read(address: 0xFEC0_0010, size: 4) == 0xAB)
        bus.write(address: 0xFEC0_0FFF, size: 1, value: 7)
        #expect(device.accesses == [.read(0x10, 4), .write(0xFFF, 1, 7)])
        #expect(bus.read(address: 0xFEC0_1000, size: 1) == 0xFF)
        #expect(bus.read(address: 0xFEC0_1000, size: 2) == 0xFFFF)
        #expect(bus.read(address: 0xFEC0_1000, size: 4) == 0xFFFF_FFFF)
        #expect(bus.read(address: 0xFEBF_FFFF, size: 8) == .max)
        bus.write(address: 0, size: 8, value: 1)
        #expect(bus.unhandled.load(ordering: .relaxed) == 5)
    }
}
