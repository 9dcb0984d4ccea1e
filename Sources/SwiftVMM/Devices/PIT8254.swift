import Synchronization

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
/// in modes 0 and 4. (OUT's exact level is in the read-back status.) Periodic modes that
/// fall behind deliver one pulse and stay on phase; pulses come at most every
/// `minimumPeriod`, so a tiny count cannot swamp the host.
public final class PIT8254: PortDevice {
    // MARK: Registers (offsets from 0x40)

    enum Register {
        static let counter0: UInt16 = 0
        static let counter1: UInt16 = 1
        static let counter2: UInt16 = 2
        static let control: UInt16 = 3     // control word register (write only)
    }

    /// Control word bits 5:4, RW1 RW0 ("Control Word Format"): 00 is the counter latch command.
    enum Access: UInt8 {
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
    struct SystemControl: OptionSet {
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

    static let clock = TickClock(hertz: inputHz)

    // MARK: State

    /// One counter: the registers the datasheet names (CR, OL, status latch, control
    /// word) and where its counting element started, from which CE is computed.
    struct Counter {
        var modeBits: UInt8 = 0              // control word bits 3:1 as written
        var access = Access.lowHigh
        var bcd = false
        var countRegister: UInt16 = 0        // CR, as written (binary or BCD)
        var outputLatch: UInt16?             // OL, when latched
        var statusLatch: UInt8?
        var writeHigh = false                // the next lo/hi write is the MSB
        var readHigh = false                 // the next lo/hi read is the MSB
        var gate = true

        /// A complete count was written since the control word.
        var hasCount = false
        /// Modes 1 and 5: CR was written and not yet loaded by a gate trigger.
        var awaitingTrigger = false
        /// Counts of CE's current run (1…65536, or 1…10000 in BCD).
        var reload: UInt64 = 0x1_0000
        /// The input clock tick at which CE's current run began; nil while not counting (no
        /// count, gate low, not triggered). All times in `Counter` are ticks.
        var start: UInt64?
        /// Ticks counted before the run that began at `start` (modes 0 and 4, gate paused).
        var ticksBefore: UInt64 = 0
        /// Modes 2 and 3: a count written while counting, loaded at the end of the current
        /// period (`at`); until then CE finishes the old period.
        var pending: (reload: UInt64, at: UInt64)?
        /// Modes 0, 1, 4, 5: terminal count has been signalled.
        var terminalCountSignalled = false

        var mode: Mode { Mode(bits: modeBits) }
        var modulus: UInt64 { bcd ? 10_000 : 0x1_0000 }

        /// CR as a number of counts: 0 is the largest (65536, or 10^4 in BCD).
        var countRegisterValue: UInt64 {
            let value = bcd ? PIT8254.fromBCD(countRegister) : UInt64(countRegister)
            return value == 0 ? modulus : value
        }

        /// The run CE is in at `now`: the pending count once its period boundary has come.
        func run(_ now: UInt64) -> (start: UInt64?, reload: UInt64) {
            if let pending, now >= pending.at { return (pending.at, pending.reload) }
            return (start, reload)
        }

        /// Makes a pending count whose boundary has passed the current run.
        mutating func settle(_ now: UInt64) {
            guard let pending, now >= pending.at else { return }
            start = pending.at
            reload = pending.reload
            ticksBefore = 0
            self.pending = nil
        }

        func elapsed(_ now: UInt64) -> UInt64 {
            let start = run(now).start
            return ticksBefore + (start.map { now > $0 ? now - $0 : 0 } ?? 0)
        }

        /// CE, as a number (mode definitions: 0/1/4/5 count down through 0 and wrap;
        /// 2 counts N…1; 3 counts N…2 by twos, twice per period).
        func count(_ now: UInt64) -> UInt64 {
            guard hasCount else { return 0 }
            let (start, n) = run(now)
            switch mode {
            case .interruptOnTerminalCount, .softwareStrobe, .retriggerableOneShot, .hardwareStrobe:
                guard start != nil || !mode.isGateTriggered else { return n % modulus }
                return (n % modulus + modulus - elapsed(now) % modulus) % modulus
            case .rateGenerator:
                guard start != nil else { return n % modulus }
                return (n - elapsed(now) % n) % modulus
            case .squareWave:
                guard start != nil else { return n % modulus }
                let phase = elapsed(now) % n, high = (n + 1) / 2
                let inHalf = phase < high ? phase : phase - high
                return max(2, (n &- 2 * inHalf) & ~1) % modulus
            }
        }

        /// OUT: after a control word low in mode 0, high otherwise; then per mode.
        func output(_ now: UInt64) -> Bool {
            guard hasCount else { return mode != .interruptOnTerminalCount }
            let (start, n) = run(now)
            switch mode {
            case .interruptOnTerminalCount:
                return elapsed(now) >= n
            case .retriggerableOneShot:
                return start == nil || elapsed(now) >= n
            case .rateGenerator:
                return start == nil || elapsed(now) % n != n - 1
            case .squareWave:
                return start == nil || elapsed(now) % n < (n + 1) / 2
            case .softwareStrobe:
                return elapsed(now) != n
            case .hardwareStrobe:
                return start == nil || elapsed(now) != n
            }
        }

        /// NULL COUNT: CR written and not yet loaded into CE.
        func nullCount(_ now: UInt64) -> Bool {
            !hasCount || awaitingTrigger || pending.map { now < $0.at } ?? false
        }

        func status(_ now: UInt64) -> UInt8 {
            (output(now) ? Status.output : 0) | (nullCount(now) ? Status.nullCount : 0)
                | access.rawValue << 4 | modeBits << 1 | (bcd ? 1 : 0)
        }

        /// The first interrupt event at or after `time`: terminal count (modes 0, 4, and
        /// 1, 5 once triggered) or a period boundary (modes 2, 3).
        func nextEvent(notBefore time: UInt64) -> UInt64? {
            guard hasCount else { return nil }
            if mode.isPeriodic {
                if let pending, time <= pending.at { return pending.at }
                let (start, reload) = run(time)
                guard let start else { return nil }
                return Counter.boundary(atOrAfter: time, start: start, reload: reload)
            }
            guard let start, !terminalCountSignalled, reload >= ticksBefore else { return nil }
            return start + reload - ticksBefore
        }

        /// The first period boundary (k·reload ticks after `start`, k ≥ 1) at or after `time`.
        static func boundary(atOrAfter time: UInt64, start: UInt64, reload: UInt64) -> UInt64 {
            guard time > start + reload else { return start + reload }
            return start + (time - start + reload - 1) / reload * reload
        }

        // MARK: Programming

        /// A control word for this counter: new mode, count wanted (CE stops).
        mutating func program(_ value: UInt8) {
            modeBits = value >> 1 & 7
            access = Access(rawValue: value >> 4 & 3)!
            bcd = value & 1 != 0
            hasCount = false
            awaitingTrigger = false
            start = nil
            ticksBefore = 0
            pending = nil
            terminalCountSignalled = false
            writeHigh = false
            readHigh = false
            outputLatch = nil
            statusLatch = nil
        }

        mutating func writeCount(_ byte: UInt8, now: UInt64) {
            switch access {
            case .latch: return
            case .low: countRegister = UInt16(byte)
            case .high: countRegister = UInt16(byte) << 8
            case .lowHigh:
                if !writeHigh {
                    countRegister = countRegister & 0xFF00 | UInt16(byte)
                    writeHigh = true
                    // Mode 0: "writing the first byte disables counting; OUT goes low".
                    if mode == .interruptOnTerminalCount { hasCount = false; start = nil }
                    return
                }
                countRegister = countRegister & 0x00FF | UInt16(byte) << 8
                writeHigh = false
            }
            load(now: now)
        }

        /// CR is complete: load it into CE as each mode says.
        private mutating func load(now: UInt64) {
            settle(now)
            let n = countRegisterValue
            switch mode {
            case .interruptOnTerminalCount, .softwareStrobe:
                // Loaded at once; counting runs while the gate is high.
                reload = n
                ticksBefore = 0
                start = gate ? now : nil
                terminalCountSignalled = false
            case .retriggerableOneShot, .hardwareStrobe:
                // Loaded by the next gate trigger, not by the write.
                awaitingTrigger = true
            case .rateGenerator, .squareWave:
                if hasCount, let current = start {
                    // Counting: the new count starts at the end of the current period.
                    let end = pending?.at ?? Counter.boundary(atOrAfter: now + 1, start: current, reload: reload)
                    pending = (n, end)
                } else {
                    reload = n
                    ticksBefore = 0
                    start = gate ? now : nil
                }
            }
            hasCount = true
        }

        /// GATE: a low level pauses modes 0 and 4 and stops 2 and 3 (OUT high); a rising
        /// edge triggers 1 and 5 and restarts 2 and 3 from CR ("Gate" table, Figure 20).
        mutating func setGate(_ level: Bool, now: UInt64) {
            guard level != gate else { return }
            gate = level
            guard hasCount else { return }
            settle(now)
            switch mode {
            case .interruptOnTerminalCount, .softwareStrobe:
                if level {
                    start = now
                } else {
                    ticksBefore = elapsed(now)
                    start = nil
                }
            case .retriggerableOneShot, .hardwareStrobe:
                guard level else { return }
                reload = countRegisterValue
                awaitingTrigger = false
                start = now
                ticksBefore = 0
                terminalCountSignalled = false
            case .rateGenerator, .squareWave:
                pending = nil
                ticksBefore = 0
                if level {
                    reload = countRegisterValue
                    start = now
                } else {
                    start = nil
                }
            }
        }

        // MARK: Reading

        mutating func latchCount(_ now: UInt64) {
            guard outputLatch == nil else { return }   // "held until read"; later latches ignored
            outputLatch = PIT8254.encode(count(now), bcd: bcd)
        }

        mutating func latchStatus(_ now: UInt64) {
            guard statusLatch == nil else { return }
            statusLatch = status(now)
        }

        /// A read of the counter's port: latched status first, then the latched count,
        /// else CE live, a byte at a time per the access mode.
        mutating func read(_ now: UInt64) -> UInt8 {
            if let status = statusLatch {
                statusLatch = nil
                return status
            }
            let value = outputLatch ?? PIT8254.encode(count(now), bcd: bcd)
            let byte: UInt8
            switch access {
            case .latch, .low: byte = UInt8(truncatingIfNeeded: value)
            case .high: byte = UInt8(truncatingIfNeeded: value >> 8)
            case .lowHigh:
                byte = UInt8(truncatingIfNeeded: readHigh ? value >> 8 : value)
                readHigh.toggle()
                if readHigh { return byte }   // the latch holds until its second byte is read
            }
            outputLatch = nil
            return byte
        }
    }

    struct State {
        var counters = [Counter(), Counter(), Counter()]
        /// Port 0x61's writable bits (bit 0 is also counter 2's gate).
        var systemControl: SystemControl = []
        /// Channel 0's next interrupt, as armed.
        var deadline: UInt64?
    }

    private let state: Mutex<State>
    private let timer: DeviceTimer
    private let irq0: any InterruptLine

    /// `timer` gives the host clock and arms channel 0's interrupts (its `timerFired(now:)`
    /// is this device's); `irq0` is ISA IRQ 0.
    public init(timer: DeviceTimer, irq0: any InterruptLine = DisconnectedLine()) {
        self.timer = timer
        self.irq0 = irq0
        var initial = State()
        initial.counters[2].gate = false    // port 0x61 bit 0 starts clear
        state = Mutex(initial)
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

    /// The timer service's callback for the deadline this device armed. One pulse per call
    /// at most; a periodic counter re-arms for its next boundary after `now`.
    public func timerFired(now: UInt64) {
        let (pulse, deadline) = state.withLock { state -> (Bool, UInt64?) in
            guard let due = state.deadline, now >= due else { return (false, state.deadline) }
            var counter = state.counters[0]
            if counter.mode.isPeriodic {
                counter.settle(Self.clock.ticks(in: due))
                // The next boundary after now, and at least minimumPeriod after this one.
                let notBefore = max(Self.clock.ticks(in: now), Self.clock.ticks(in: due + Self.minimumPeriod)) + 1
                state.deadline = counter.nextEvent(notBefore: notBefore).map(Self.clock.nanoseconds(for:))
            } else {
                counter.terminalCountSignalled = true
                state.deadline = nil
            }
            state.counters[0] = counter
            return (true, state.deadline)
        }
        if pulse {
            irq0.set(true)
            irq0.set(false)
        }
        // The timer service disarmed the slot to call us: arm what is still due (an early or
        // stale call re-arms the same deadline).
        if pulse || deadline != nil { timer.arm(following: { state.withLock { $0.deadline } }, first: deadline) }
    }

    /// Runs `body` under the lock; when it says counter 0 changed, recomputes and re-arms
    /// channel 0's deadline after unlocking.
    private func access(_ body: (inout State) -> Bool) {
        let (rearm, deadline) = state.withLock { state -> (Bool, UInt64?) in
            guard body(&state) else { return (false, nil) }
            let before = state.deadline
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
