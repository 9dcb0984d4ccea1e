import SwiftVMMSupport

/// The PC's Intel 8254 programmable interval timer (ports 0x40–0x43) and the port 0x61
/// bits that reach it (channel 2's gate, the speaker enable, channel 2's OUT). Behaviour
/// from the Intel 8254 datasheet (order 231164): "Control Word Format", "Read-Back
/// Command", "Mode Definitions" (modes 0–5), "Counter Latch Command"; port 0x61 from the
/// PC/AT technical reference (and Intel PIIX4 §4.1.9, NMI status and control).
///
/// Counters are not ticked: each counting element is computed from the host clock as
/// `reload − input clocks since the count was loaded`, so reads are exact at any time and
/// only channel 0's interrupts need the timer service. Input clock edges sit on a fixed
/// grid (tick n at n / 1.193182 MHz of host time), as the real CLK runs independently of
/// the writes; a count loaded between two edges starts counting at the next one.
///
/// Wiring (PC/AT): channel 0's gate is tied high and its OUT drives IRQ0; channel 1 (once
/// DRAM refresh) has its gate tied high and OUT unconnected; channel 2's gate is port 0x61
/// bit 0 and its OUT is port 0x61 bit 5 (and the speaker).
///
/// IRQ0 is sent as a pulse, `set(true)` then `set(false)`, at each event where OUT makes
/// the rising edge the PIC latches: each period boundary in modes 2 and 3, terminal count
/// in modes 0 and 4. (OUT's exact level is in the read-back status.)
///
/// Lost ticks are delayed, not dropped (QEMU's and KVM's default PIT policy, "delay" or
/// "reinject"): every event is owed to the guest until it is sent, and a pulse is sent
/// only when the interrupt controllers have taken the last one (an 8259 INTA, or the I/O
/// APIC vector's EOI; `InterruptLine.acceptance`), and each acknowledgement sends the next
/// owed one at once. So when the host runs the timer thread or the vCPU late, the missed
/// ticks arrive afterwards, as fast as the guest takes them, and a
/// kernel counting ticks loses none. A masked IRQ0 gets the current edge (the 8259 latches
/// it as hardware would) and the backlog is dropped, as is the backlog when counter 0 is
/// reprogrammed. Periods under `minimumPeriod` are not caught up (a tiny count cannot
/// swamp the host) and the backlog is capped at `maximumOwed` events.
///
/// With the `discard` policy (QEMU's `lost_tick_policy=discard`, KVM without reinjection)
/// nothing is owed: each time the timer runs, the events since the last become one pulse,
/// sent at once, which an edge still pending at the controllers absorbs, as on hardware.
public final class PIT8254: PortDevice {
    /// What happens to channel 0 events the host ran too late to send on time.
    public enum LostTickPolicy: String, Sendable, CaseIterable {
        /// Each is sent later, once the controllers took the one before (QEMU's default).
        case delay
        /// They merge into one pulse, sent at once.
        case discard
    }

    // MARK: Registers (offsets from 0x40)

    enum Register {
        static let counter0: UInt16 = 0
        static let counter1: UInt16 = 1
        static let counter2: UInt16 = 2
        static let control: UInt16 = 3     // control word register (write only)
    }

    /// Control word bits 5:4, RW1 RW0 ("Control Word Format"): 00 is the counter latch command.
    enum Access: UInt8, Codable {
        case latch = 0, low = 1, high = 2, lowHigh = 3
    }

    /// Control word bits 3:1, M2 M1 M0; 110 and 111 are modes 2 and 3 (M2 is don't-care).
    enum Mode: UInt8 {
        case interruptOnTerminalCount = 0    // mode 0
        case retriggerableOneShot = 1        // mode 1 (gate rising edge starts it)
        case rateGenerator = 2               // mode 2
        case squareWave = 3                  // mode 3
        case softwareStrobe = 4              // mode 4
        case hardwareStrobe = 5              // mode 5 (gate rising edge starts it)

        init(bits: UInt8) { self = Mode(rawValue: bits > 5 ? bits & 3 : bits)! }
        var isPeriodic: Bool { self == .rateGenerator || self == .squareWave }
        var isGateTriggered: Bool { self == .retriggerableOneShot || self == .hardwareStrobe }
    }

    /// Control word bits 7:6 = 11: the read-back command ("Read-Back Command Format").
    enum ReadBack {
        static let select: UInt8 = 0b11
        static let count: UInt8 = 1 << 5     // COUNT, active low: 0 latches the count
        static let status: UInt8 = 1 << 4    // STATUS, active low: 0 latches the status
        static let counters: UInt8 = 0b111 << 1  // CNT2 CNT1 CNT0 in bits 3:1
    }

    /// Status byte ("Status Byte"): OUTPUT bit 7, NULL COUNT bit 6, then RW1 RW0 M2 M1 M0 BCD
    /// as last written.
    enum Status {
        static let output: UInt8 = 1 << 7
        static let nullCount: UInt8 = 1 << 6
    }

    /// Port 0x61 bits (PC/AT; PIIX4 §4.1.9 NMI status and control register).
    struct SystemControl: OptionSet, Codable {
        let rawValue: UInt8
        static let timer2Gate = SystemControl(rawValue: 1 << 0)      // R/W
        static let speakerData = SystemControl(rawValue: 1 << 1)     // R/W
        static let parityCheckEnable = SystemControl(rawValue: 1 << 2)  // R/W (active low)
        static let channelCheckEnable = SystemControl(rawValue: 1 << 3) // R/W (active low)
        static let refreshToggle = SystemControl(rawValue: 1 << 4)   // RO
        static let timer2Output = SystemControl(rawValue: 1 << 5)    // RO
        static let writable: SystemControl = [.timer2Gate, .speakerData, .parityCheckEnable, .channelCheckEnable]
    }

    /// The 8254's CLK input on a PC: 14.31818 MHz / 12.
    public static let inputHz: UInt64 = 1_193_182
    /// Port 0x61 bit 4 toggles once per DRAM refresh request, every 15.085 µs (the period
    /// BIOSes programmed into channel 1: count 18).
    static let refreshPeriod: UInt64 = 15_085
    /// Shortest interval between two IRQ0 pulses, as LocalAPIC.minimumPeriod (50 µs).
    public static let minimumPeriod: UInt64 = 50_000
    /// The most channel 0 events owed at once (one second at 1 kHz); beyond, they are dropped.
    static let maximumOwed: UInt64 = 1000

    static let clock = TickClock(hertz: inputHz)

    // MARK: State

    // Counter, one per channel: PIT8254+Counter.swift.

    package struct State: Sendable, Equatable, Codable {
        var counters = [Counter(), Counter(), Counter()]
        /// Port 0x61's writable bits (bit 0 is also counter 2's gate).
        var systemControl: SystemControl = []
        /// Channel 0's next event (period boundary or terminal count), in host time.
        var deadline: UInt64?
        /// Channel 0 events not yet sent as IRQ0 pulses.
        var owed: UInt64 = 0
        /// What became of channel 0's events so far (`PIT8254.ticks`).
        var ticks = TimerTicks()

        /// Drops what is owed, counting it as discarded.
        mutating func discardOwed() {
            ticks.discarded += owed
            owed = 0
        }

        /// Moves channel 0's events up to `now` into `owed` and sets `deadline` to the next.
        mutating func collectEvents(now: UInt64) {
            guard let due = deadline, now >= due else { return }
            var counter = counters[0]
            let dueTick = PIT8254.clock.ticks(in: due)
            if counter.mode.isPeriodic {
                counter.settle(dueTick)
                let nowTick = PIT8254.clock.ticks(in: now)
                var events: UInt64 = 1
                if counter.run(dueTick).reload >= PIT8254.clock.ticks(in: PIT8254.minimumPeriod) {
                    var next = counter.nextEvent(notBefore: dueTick + 1)
                    while let boundary = next, boundary <= nowTick, events < PIT8254.maximumOwed {
                        events += 1
                        next = counter.nextEvent(notBefore: boundary + 1)
                    }
                }
                counter.settle(nowTick)
                // The next boundary after now, and at least minimumPeriod after this one.
                let notBefore = max(nowTick, PIT8254.clock.ticks(in: due + PIT8254.minimumPeriod)) + 1
                deadline = counter.nextEvent(notBefore: notBefore).map(PIT8254.clock.nanoseconds(for:))
                owe(events)
            } else {
                counter.terminalCountSignalled = true
                deadline = nil
                owe(1)
            }
            counters[0] = counter
        }

        /// Counts `events` expiries and owes them, beyond `maximumOwed` discarded.
        private mutating func owe(_ events: UInt64) {
            ticks.expiries += events
            let kept = min(owed + events, PIT8254.maximumOwed)
            ticks.discarded += owed + events - kept
            owed = kept
        }
    }

    let state: AnnotatedMutex<State>
    let timer: DeviceTimer
    private let irq0: any InterruptLine
    private let lostTicks: LostTickPolicy

    /// `timer` gives the host clock and arms channel 0's interrupts (its `timerFired(now:)`
    /// is this device's); `irq0` is ISA IRQ 0.
    public init(timer: DeviceTimer, irq0: any InterruptLine = DisconnectedLine(), lostTicks: LostTickPolicy = .delay) {
        self.timer = timer
        self.irq0 = irq0
        self.lostTicks = lostTicks
        var initial = State()
        initial.counters[2].gate = false    // port 0x61 bit 0 starts clear
        state = AnnotatedMutex(initial)
    }

    // MARK: Ports 0x40–0x43

    public func read(offset: UInt16, size: Int) -> UInt32 {
        let now = tick()
        return state.withLock { state -> UInt32 in
            switch offset {
            case Register.counter0...Register.counter2: UInt32(state.counters[Int(offset)].read(now))
            default: 0xFF   // the control word register cannot be read
            }
        }
    }

    public func write(offset: UInt16, size: Int, value: UInt32) {
        let byte = UInt8(truncatingIfNeeded: value)
        let now = tick()
        access { state in
            switch offset {
            case Register.counter0...Register.counter2:
                state.counters[Int(offset)].writeCount(byte, now: now)
                return offset == Register.counter0
            case Register.control:
                return Self.writeControl(byte, now: now, &state)
            default:
                return false
            }
        }
    }

    /// A control word, counter latch command or read-back command. Returns whether
    /// counter 0 was reprogrammed.
    private static func writeControl(_ value: UInt8, now: UInt64, _ state: inout State) -> Bool {
        let select = Int(value >> 6)
        if select == Int(ReadBack.select) {
            for index in 0..<3 where value & 2 << index != 0 {
                if value & ReadBack.count == 0 { state.counters[index].latchCount(now) }
                if value & ReadBack.status == 0 { state.counters[index].latchStatus(now) }
            }
            return false
        }
        if value >> 4 & 3 == Access.latch.rawValue {
            state.counters[select].latchCount(now)
            return false
        }
        state.counters[select].program(value)
        return select == 0
    }

    // MARK: Port 0x61

    /// Port 0x61 (one port): channel 2's gate and OUT, the speaker enable.
    public var port61: any PortDevice { SystemControlPort(pit: self) }

    final class SystemControlPort: PortDevice {
        let pit: PIT8254
        init(pit: PIT8254) { self.pit = pit }

        func read(offset: UInt16, size: Int) -> UInt32 {
            let time = pit.timer.now(), now = PIT8254.clock.ticks(in: time)
            return pit.state.withLock { state in
                var value = state.systemControl
                if state.counters[2].output(now) { value.insert(.timer2Output) }
                if time / PIT8254.refreshPeriod & 1 != 0 { value.insert(.refreshToggle) }
                return UInt32(value.rawValue)
            }
        }

        func write(offset: UInt16, size: Int, value: UInt32) {
            let now = pit.tick()
            pit.access { state in
                state.systemControl = SystemControl(rawValue: UInt8(truncatingIfNeeded: value)).intersection(.writable)
                state.counters[2].setGate(state.systemControl.contains(.timer2Gate), now: now)
                return false
            }
        }
    }

    // MARK: Channel 0 interrupts

    /// The timer service's callback: collects channel 0's events up to `now` and sends one
    /// owed pulse if the controllers took the last (see the type's note on lost ticks).
    /// Calls may come late, early or when nothing is due; the deadline is re-armed each time.
    public func timerFired(now: UInt64) {
        let (_, deadline) = sendOwedPulse(now: now)
        // The timer service disarmed the slot to call us: arm what is still due.
        timer.arm(following: { state.withLock { $0.deadline } }, first: deadline)
    }

    /// The 8259 took IRQ0 (INTA) or the I/O APIC's IRQ0 vector was EOIed: the next owed
    /// pulse goes now, from the acknowledging vCPU's thread, as KVM's PIT re-injects from
    /// its ack notifier. Catching up then costs no timer-thread wake-up per tick, which a
    /// busy host would make late again.
    package func irq0Acknowledged() {
        let (moved, deadline) = sendOwedPulse(now: timer.now(), acknowledged: true)
        if moved { timer.arm(following: { state.withLock { $0.deadline } }, first: deadline) }
    }

    /// What became of channel 0's events so far.
    public var ticks: TimerTicks { state.withLock { $0.ticks } }

    /// Collects events up to `now` and sends one owed pulse unless the last is still pending
    /// at the controllers (a masked IRQ0 gets this one and the backlog is dropped). Returns
    /// whether the deadline moved, and the deadline. A pulse owed from before an
    /// acknowledgement counts as caught up.
    private func sendOwedPulse(now: UInt64, acknowledged: Bool = false) -> (moved: Bool, deadline: UInt64?) {
        let (pulse, moved, deadline) = state.withLock { state -> (Bool, Bool, UInt64?) in
            let before = state.deadline
            let owedBefore = state.owed
            state.collectEvents(now: now)
            let moved = state.deadline != before
            guard state.owed > 0 else { return (false, moved, state.deadline) }
            // Asked under this lock (the controllers never call in while holding theirs), so
            // an acknowledgement after this answer finds `owed` and sends it. The discard
            // policy does what a masked line gets: this pulse now, the rest dropped.
            switch lostTicks == .discard ? .masked : irq0.acceptance {
            case .pending:
                return (false, moved, state.deadline)
            case .masked:
                state.ticks.delivered += 1
                state.owed -= 1
                state.discardOwed()
            case .ready:
                state.ticks.delivered += 1
                if acknowledged && owedBefore > 0 { state.ticks.caughtUp += 1 }
                state.owed -= 1
            }
            return (true, moved, state.deadline)
        }
        if pulse {
            irq0.set(true)
            irq0.set(false)
        }
        return (moved, deadline)
    }

    /// Runs `body` under the lock; when it says counter 0 changed, recomputes channel 0's
    /// deadline, drops the backlog, and re-arms after unlocking.
    private func access(_ body: (inout State) -> Bool) {
        let (rearm, deadline) = state.withLock { state -> (Bool, UInt64?) in
            guard body(&state) else { return (false, nil) }
            let before = state.deadline
            state.discardOwed()
            state.deadline = state.counters[0].nextEvent(notBefore: 0).map(Self.clock.nanoseconds(for:))
            return (state.deadline != before, state.deadline)
        }
        if rearm { timer.arm(following: { state.withLock { $0.deadline } }, first: deadline) }
    }

    /// The input clock tick now.
    private func tick() -> UInt64 { Self.clock.ticks(in: timer.now()) }

    // MARK: BCD

    static func fromBCD(_ value: UInt16) -> UInt64 {
        var result: UInt64 = 0
        for shift in stride(from: 12, through: 0, by: -4) { result = result * 10 + UInt64(value >> UInt16(shift) & 0xF) % 10 }
        return result
    }

    /// CE as the register shows it: binary, or four BCD digits.
    static func encode(_ value: UInt64, bcd: Bool) -> UInt16 {
        guard bcd else { return UInt16(truncatingIfNeeded: value) }
        var result: UInt16 = 0, rest = value % 10_000
        for shift in stride(from: 0, through: 12, by: 4) {
            result |= UInt16(rest % 10) << UInt16(shift)
            rest /= 10
        }
        return result
    }
}
