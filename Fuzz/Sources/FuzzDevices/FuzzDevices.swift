import Synchronization
@testable import SwiftVMM
@testable import SwiftVMMDevices
@testable import SwiftVMMPlatform
@testable import SwiftVMMSupport

/// The legacy PC as `Machine` wires it (8259s, PIT, I/O APIC, HPET, PM timer, UART, power
/// and reset devices, 8042) plus one local APIC, on a fake clock, with no KVM.
final class Board {
    /// Host time in nanoseconds, moved only by the program.
    final class Clock: Sendable {
        let nanoseconds = Mutex<UInt64>(1_000_000_000)
    }
    let clock = Clock()
    let ports = PortBus(name: "port")
    let mmio = MMIOBus(name: "MMIO address")
    let chipset: Chipset
    let uart: Serial16550
    let localAPIC: LocalAPIC

    init() throws {
        let clock = self.clock
        let now: @Sendable () -> UInt64 = { clock.nanoseconds.withLock { $0 } }
        let timer = DeviceTimer(now: now, arm: { _ in })
        chipset = Chipset(ioAPICID: 2, pitTimer: timer, hpetTimer: timer, apicBus: APICBus(cpuCount: 2))
        try chipset.place(ports: ports, mmio: mmio)
        uart = Serial16550(sink: NullSink(), irq: chipset.line(Layout.com1IRQ))
        try ports.place(uart, at: UInt64(Layout.com1), count: 8)
        let power = ACPIPowerManagement {}
        try ports.place(power.eventBlock, at: UInt64(Layout.pm1aEvent), count: 4)
        try ports.place(power.control, at: UInt64(Layout.pm1aControl), count: 2)
        try ports.place(ResetControl {}, at: UInt64(Layout.resetControl), count: 1)
        let i8042 = I8042 {}
        try ports.place(i8042.data, at: UInt64(Layout.i8042Data), count: 1)
        try ports.place(i8042.command, at: UInt64(Layout.i8042Command), count: 1)
        localAPIC = LocalAPIC(id: 0, isBootProcessor: true, environment: .init(
            tscHz: 1_000_000_000, now: now, armTimer: { _ in }, sendIPI: { _ in }, addressingChanged: { _ in },
            levelEndOfInterrupt: { _ in }))
        localAPIC.configureVirtualWire()
    }
}

/// Reads the input as a program of operations.
struct Program {
    var bytes: ArraySlice<UInt8>
    mutating func byte() -> UInt8 { bytes.popFirst() ?? 0 }
    mutating func value(_ count: Int) -> UInt64 {
        (0..<count).reduce(0) { $0 | UInt64(byte()) << (8 * UInt64($1)) }
    }
    mutating func width() -> Int { [1, 2, 4, 8][Int(byte() & 3)] }
}

/// Ports near every device SwiftVMM places, and any port.
let portBases: [UInt16] = [0x20, 0x40, 0x60, 0x70, 0xA0, 0xF4, 0x3F8, 0x4D0, 0x600, 0xCF9, 0xB000]
let mmioBases: [UInt64] = [Layout.ioAPICBase, Layout.hpetBase]

@_cdecl("LLVMFuzzerTestOneInput")
func fuzzDevices(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let board = try! Board()
    var program = Program(bytes: Array(UnsafeBufferPointer(start: data, count: size))[...])
    while !program.bytes.isEmpty {
        switch program.byte() % 12 {
        case 0, 1:   // port read or write, near a device or anywhere
            let base = program.byte()
            let port = Int(base) < portBases.count ? portBases[Int(base)] &+ UInt16(program.byte() & 0x1F) : UInt16(program.value(2))
            let size = [1, 2, 4][Int(program.byte() % 3)]
            if program.byte() & 1 == 0 { _ = board.ports.read(port: port, size: size) }
            else { board.ports.write(port: port, size: size, value: UInt32(truncatingIfNeeded: program.value(4))) }
        case 2, 3:   // MMIO read or write in the I/O APIC or HPET page
            let address = mmioBases[Int(program.byte() & 1)] + program.value(2) % 4096
            let size = program.width()
            if program.byte() & 1 == 0 { _ = board.mmio.read(address: address, size: size) }
            else { board.mmio.write(address: address, size: size, value: program.value(8)) }
        case 4:      // time passes; the timer thread fires the device timers
            let now = board.clock.nanoseconds.withLock { $0 &+= program.value(3) << 8; return $0 }
            board.chipset.pit.timerFired(now: now)
            board.chipset.hpet.timerFired(now: now)
        case 5:      // local APIC page
            let offset = program.value(2) % 4096, size = program.width()
            if program.byte() & 1 == 0 { _ = board.localAPIC.readMMIO(offset: offset, size: size) }
            else { board.localAPIC.writeMMIO(offset: offset, size: size, value: program.value(8)) }
        case 6:      // x2APIC and APIC MSRs
            let index = [0x1B, 0x6E0, 0x800 + UInt32(program.byte())][Int(program.byte() % 3)]
            if program.byte() & 1 == 0 { _ = board.localAPIC.readMSR(index) }
            else { _ = board.localAPIC.writeMSR(index, program.value(8)) }
        case 7:      // the CPU takes an interrupt
            if board.chipset.pic.hasInterrupt { _ = board.chipset.pic.acknowledge() }
            if let vector = board.localAPIC.deliverableVector { board.localAPIC.startService(vector) }
        case 8:      // an I/O APIC message or IPI arrives; an EOI reaches the I/O APIC
            board.localAPIC.accept(vector: program.byte(), levelTriggered: program.byte() & 1 == 1)
            board.chipset.ioapic.endOfInterrupt(vector: program.byte())
        case 9:      // bytes typed into the UART
            board.uart.receive((0..<Int(program.byte() % 32)).map { _ in program.byte() })
        case 10:     // the local APIC timer expires
            board.localAPIC.timerExpired(atTSC: board.clock.nanoseconds.withLock { $0 })
        default:     // INIT
            board.localAPIC.reset()
        }
    }
    return 0
}
