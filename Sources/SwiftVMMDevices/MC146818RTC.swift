#if canImport(Glibc)
import Glibc
#endif
import SwiftVMMSupport

/// The PC's real-time clock and CMOS RAM: a Motorola MC146818A (MC146818A datasheet; the
/// same register set lives on in every PC chipset), at ports 0x70 (index) and 0x71 (data).
///
/// - Port 0x70, write: bits 6:0 select one of 128 bytes; bit 7 set masks NMIs (recorded in
///   `nmiDisabled`; nothing in this machine raises a chipset NMI). Reads return 0xFF: on
///   the PC the index port is write-only, and QEMU answers 0xFF too.
/// - The time and date (registers 0x00–0x09, century at 0x32) follow the host's UTC clock
///   plus an offset the guest changes by setting the time. They read in BCD or binary and
///   12- or 24-hour format as register B says; a format change does not convert the time
///   registers while updates are halted, as on the chip.
/// - Register A: UIP (bit 7) reads 1 during the 244 µs before each second's update and
///   never longer (the update itself is instantaneous here, as in QEMU); the divider
///   (bits 6:4) must be 010 for the clock to run; bits 3:0 choose the periodic rate.
/// - Register B bit 7 (SET) halts updates so the guest can set the time; clearing it
///   restarts the clock from the registers. DSE (bit 0) is stored, never applied: UTC.
/// - Register C: IRQF/PF/AF/UF, cleared by reading, worked out when C is read: was there
///   an update, a periodic edge, an update to a time the alarm registers match, since the
///   last read? An alarm byte with its two high bits set matches any value ("don't care").
///   IRQF is set when a flag is whose interrupt register B enables (PIE, AIE, UIE).
/// - IRQ8 follows IRQF, as the chip's IRQ# pin does: it rises when the first enabled event
///   comes (the device timer is armed for it) and falls when register C is read. Events
///   while IRQF is set merge into it, as on the chip (QEMU's default `lost_tick_policy`
///   for the RTC, discard, does the same). The machine also watches this output: it
///   sets PM1 RTC_STS and wakes the machine from ACPI S3.
/// - Register D: VRT (bit 7) always 1, the battery is good.
/// - Every other byte is plain CMOS RAM, including the shutdown status byte 0x0F.
///
/// Registers A and B, the alarm bytes and CMOS RAM are battery-backed: `backup` returns
/// them with the clock offset, and a machine built from it after a reset keeps them
/// (register B's interrupt enables cleared, as the chip's RESET pin does).
public final class MC146818RTC: PortDevice {
    enum Register {
        static let seconds = 0x00, secondsAlarm = 0x01, minutes = 0x02, minutesAlarm = 0x03
        static let hours = 0x04, hoursAlarm = 0x05, dayOfWeek = 0x06, dayOfMonth = 0x07
        static let month = 0x08, year = 0x09
        static let statusA = 0x0A, statusB = 0x0B, statusC = 0x0C, statusD = 0x0D
        /// What the BIOS does after a reset (0x0A: jump through the warm-reset vector at
        /// 0x467). SMP start-up code writes it; plain RAM here.
        static let shutdownStatus = 0x0F
        /// The century, in the time registers' format (ACPI FADT CENTURY field; IBM PC/AT).
        static let century = 0x32
    }

    /// Register A (datasheet "Register A"): UIP, divider DV2–DV0, rate select RS3–RS0.
    enum StatusA {
        static let updateInProgress: UInt8 = 0x80
        static let dividerMask: UInt8 = 0x70
        /// DV = 010: 32.768 kHz time base, oscillator on, clock running.
        static let dividerRunning: UInt8 = 0x20
        static let rateMask: UInt8 = 0x0F
        /// What firmware leaves: running, 1024 Hz periodic rate.
        static let poweredOn: UInt8 = 0x26
    }

    /// Register B (datasheet "Register B").
    struct StatusB: OptionSet {
        let rawValue: UInt8
        static let set = StatusB(rawValue: 0x80)
        static let periodicInterruptEnable = StatusB(rawValue: 0x40)
        static let alarmInterruptEnable = StatusB(rawValue: 0x20)
        static let updateEndedInterruptEnable = StatusB(rawValue: 0x10)
        static let squareWaveEnable = StatusB(rawValue: 0x08)
        static let binary = StatusB(rawValue: 0x04)        // DM: binary, not BCD
        static let hour24 = StatusB(rawValue: 0x02)
        static let daylightSaving = StatusB(rawValue: 0x01)
        /// Cleared by the chip's RESET (a machine reset).
        static let clearedByReset: StatusB = [.periodicInterruptEnable, .alarmInterruptEnable,
                                              .updateEndedInterruptEnable, .squareWaveEnable]
        /// What firmware leaves: 24-hour, BCD.
        static let poweredOn: StatusB = [.hour24]
    }

    /// Register C flags (datasheet "Register C").
    enum StatusC {
        static let interruptRequest: UInt8 = 0x80, periodic: UInt8 = 0x40
        static let alarm: UInt8 = 0x20, updateEnded: UInt8 = 0x10
    }

    /// Register D bit 7: valid RAM and time (the battery is good).
    static let validRAMAndTime: UInt8 = 0x80
    /// tBUC: UIP rises this long before the update (datasheet, "Update Cycle").
    static let updateInProgressNanoseconds: Int64 = 244_000
    /// The time base: 32.768 kHz.
    static let timeBaseHertz: Int64 = 32_768
    static let nanosecondsPerSecond: Int64 = 1_000_000_000

    /// What survives a machine reset, as the battery keeps it on a PC.
    public struct Backup: Sendable, Equatable {
        /// The 128 bytes (time registers hold the time only while updates are halted).
        public var ram: [UInt8]
        /// Guest time minus host time, nanoseconds.
        public var clockOffset: Int64

        /// A battery just put in: registers A and B as firmware leaves them, RAM zero,
        /// the time the host's.
        public static var poweredOn: Backup {
            var ram = [UInt8](repeating: 0, count: 128)
            ram[Register.statusA] = StatusA.poweredOn
            ram[Register.statusB] = StatusB.poweredOn.rawValue
            return Backup(ram: ram, clockOffset: 0)
        }
    }

    struct State {
        var ram: [UInt8]
        var clockOffset: Int64
        var index = 0
        var nmiDisabled = false
        /// Guest time at the last read of register C, for UF and PF.
        var lastStatusCRead: Int64 = 0
        /// IRQF, as IRQ8 should show it: set by an enabled event, cleared by reading C.
        var interruptLevel = false
        /// The host time (device clock) of the next enabled event, while IRQ8 is low.
        var deadline: UInt64?

        var statusB: StatusB { StatusB(rawValue: ram[Register.statusB]) }
        var encoding: Encoding {
            Encoding(binary: statusB.contains(.binary), hour24: statusB.contains(.hour24))
        }
        /// The divider is in normal operation: the periodic rate and UIP tick.
        var dividerRunning: Bool { ram[Register.statusA] & StatusA.dividerMask == StatusA.dividerRunning }
        /// Updates run: divider running and SET clear.
        var running: Bool { dividerRunning && !statusB.contains(.set) }
    }

    let state: AnnotatedMutex<State>
    /// Host wall-clock time: nanoseconds since 1970-01-01 UTC.
    let now: @Sendable () -> Int64
    let timer: DeviceTimer?
    private let irq8: any InterruptLine

    /// `now` is the host's UTC clock in nanoseconds since the Unix epoch (injectable for
    /// tests); `backup` is what the battery kept; `timer` calls `timerFired()` at the next
    /// enabled event and `irq8` is the interrupt line (without a timer, IRQ8 never rises).
    public init(backup: Backup = .poweredOn, now: @escaping @Sendable () -> Int64 = MC146818RTC.hostClock,
                timer: DeviceTimer? = nil, irq8: any InterruptLine = DisconnectedLine()) {
        var ram = backup.ram + [UInt8](repeating: 0, count: max(0, 128 - backup.ram.count))
        ram[Register.statusB] &= ~StatusB.clearedByReset.rawValue
        state = AnnotatedMutex(State(ram: Array(ram.prefix(128)), clockOffset: backup.clockOffset,
                            lastStatusCRead: now() + backup.clockOffset))
        self.now = now
        self.timer = timer
        self.irq8 = irq8
    }

    /// CLOCK_REALTIME in nanoseconds.
    public static let hostClock: @Sendable () -> Int64 = {
        var time = timespec()
        clock_gettime(CLOCK_REALTIME, &time)
        return Int64(time.tv_sec) * 1_000_000_000 + Int64(time.tv_nsec)
    }

    /// The battery-backed state, for the machine that follows a reset.
    public var backup: Backup {
        let now = now()
        return state.withLock { state in
            var ram = state.ram
            if state.running { Self.storeTime(at: state.clockOffset + now, in: &ram, encoding: state.encoding) }
            return Backup(ram: ram, clockOffset: state.clockOffset)
        }
    }

    /// Bit 7 of the last index written: NMIs masked.
    public var nmiDisabled: Bool { state.withLock { $0.nmiDisabled } }

    /// Lets `edit` change the 128 bytes of CMOS RAM as firmware does at power-on (memory
    /// sizes, CPU count).
    package func store(_ edit: (inout [UInt8]) -> Void) {
        state.withLock { edit(&$0.ram) }
    }

    public func read(offset: UInt16, size: Int) -> UInt32 {
        guard offset == 1 else { return 0xFF }
        let now = now()
        let (value, readC) = state.withLock { state in
            let value = Self.readData(&state, guestTime: state.clockOffset + now)
            let readC = state.index == Register.statusC
            // Only a read of C changes the interrupt: other reads (a UIP poll) need no device clock.
            if readC { Self.settleInterrupt(&state, guestTime: state.clockOffset + now, monotonic: timer?.now() ?? 0) }
            return (value, readC)
        }
        if readC { publishInterrupt() }
        return UInt32(value)
    }

    public func write(offset: UInt16, size: Int, value: UInt32) {
        let byte = UInt8(truncatingIfNeeded: value)
        guard offset == 1 else {   // the index port: no clock involved
            state.withLock { state in
                state.index = Int(byte & 0x7F)
                state.nmiDisabled = byte & 0x80 != 0
            }
            return
        }
        let now = now(), monotonic = timer?.now() ?? 0
        state.withLock { state in
            Self.writeData(&state, byte, hostTime: now)
            Self.settleInterrupt(&state, guestTime: state.clockOffset + now, monotonic: monotonic)
        }
        publishInterrupt()
    }

    /// The device timer's callback: an enabled event may have come (or the call is early).
    public func timerFired() {
        let now = now(), monotonic = timer?.now() ?? 0
        state.withLock { Self.settleInterrupt(&$0, guestTime: $0.clockOffset + now, monotonic: monotonic) }
        publishInterrupt()
    }

    /// IRQF as IRQ8 and the next event's deadline, sent outside the lock.
    private func publishInterrupt() {
        guard let timer else { return }
        let (level, deadline) = state.withLock { ($0.interruptLevel, $0.deadline) }
        publishSettled(level, current: { state.withLock { $0.interruptLevel } }, send: irq8.set)
        timer.arm(following: { state.withLock { $0.deadline } }, first: deadline)
    }

    // MARK: The interrupt (under the lock)

    /// Raises IRQF if an enabled event came since C was last read; while it is clear, the
    /// deadline is the next enabled event's host time.
    private static func settleInterrupt(_ state: inout State, guestTime: Int64, monotonic: UInt64) {
        if statusC(state, since: state.lastStatusCRead, until: guestTime) & StatusC.interruptRequest != 0 {
            state.interruptLevel = true
        }
        state.deadline = state.interruptLevel ? nil
            : nextInterrupt(state, after: guestTime).map { monotonic &+ UInt64(max($0 - guestTime, 0)) }
    }

    /// The guest time of the first event after `guestTime` whose interrupt register B
    /// enables: a periodic edge (PIE), an update (UIE), an alarm (AIE).
    private static func nextInterrupt(_ state: State, after guestTime: Int64) -> Int64? {
        let b = state.statusB
        var first: Int64?
        func consider(_ time: Int64) { first = min(first ?? time, time) }
        if b.contains(.periodicInterruptEnable), let period = periodTicks(state) {
            let edge = (timeBaseTicks(guestTime).floorDivided(by: period) + 1) * period
            consider(nanoseconds(atTimeBaseTick: edge))
        }
        if state.running, b.contains(.updateEndedInterruptEnable) {
            consider((guestTime.floorDivided(by: nanosecondsPerSecond) + 1) * nanosecondsPerSecond)
        }
        if state.running, b.contains(.alarmInterruptEnable), let alarm = nextAlarm(state, after: guestTime) {
            consider(alarm)
        }
        return first
    }

    // MARK: Register access (under the lock)

    private static func readData(_ state: inout State, guestTime: Int64) -> UInt8 {
        let index = state.index
        switch index {
        case Register.seconds, Register.minutes, Register.hours, Register.dayOfWeek, Register.dayOfMonth,
             Register.month, Register.year, Register.century:
            guard state.running else { return state.ram[index] }
            var ram = state.ram
            storeTime(at: guestTime, in: &ram, encoding: state.encoding)
            return ram[index]
        case Register.statusA:
            let fraction = guestTime.floorModulo(nanosecondsPerSecond)
            let updating = state.running && fraction >= nanosecondsPerSecond - updateInProgressNanoseconds
            return state.ram[index] & ~StatusA.updateInProgress | (updating ? StatusA.updateInProgress : 0)
        case Register.statusC:
            defer {
                state.lastStatusCRead = guestTime
                state.interruptLevel = false
            }
            return statusC(state, since: state.lastStatusCRead, until: guestTime)
        case Register.statusD:
            return validRAMAndTime
        default:
            return state.ram[index]
        }
    }

    private static func writeData(_ state: inout State, _ byte: UInt8, hostTime: Int64) {
        let index = state.index
        let wasRunning = state.running
        let guestTime = state.clockOffset + hostTime
        switch index {
        case Register.seconds, Register.minutes, Register.hours, Register.dayOfWeek, Register.dayOfMonth,
             Register.month, Register.year, Register.century:
            // While the clock runs, a write sets that field of the current time at once.
            if wasRunning { storeTime(at: guestTime, in: &state.ram, encoding: state.encoding) }
            state.ram[index] = byte
            if wasRunning { restart(&state, hostTime: hostTime, keepingFraction: guestTime) }
            return
        case Register.statusA:
            state.ram[index] = byte & ~StatusA.updateInProgress
        case Register.statusB:
            var value = StatusB(rawValue: byte)
            if value.contains(.set) { value.remove(.updateEndedInterruptEnable) }   // SET clears UIE
            state.ram[index] = value.rawValue
        case Register.statusC, Register.statusD:
            return                                                                   // read-only
        default:
            state.ram[index] = byte
        }
        // Halting updates latches the time into the registers; restarting runs the clock
        // on from what they then hold, the next update one second later.
        if wasRunning, !state.running {
            storeTime(at: guestTime, in: &state.ram, encoding: state.encoding)
        } else if !wasRunning, state.running {
            restart(&state, hostTime: hostTime, keepingFraction: nil)
        }
    }

    /// Sets the clock offset so that guest time is the time in the registers (plus the
    /// sub-second part of `keepingFraction`, if given).
    private static func restart(_ state: inout State, hostTime: Int64, keepingFraction: Int64?) {
        let encoding = state.encoding, ram = state.ram
        let time = CalendarTime(
            year: encoding.decode(ram[Register.century]) * 100 + encoding.decode(ram[Register.year]),
            month: encoding.decode(ram[Register.month]), day: encoding.decode(ram[Register.dayOfMonth]),
            hour: encoding.decodeHour(ram[Register.hours]), minute: encoding.decode(ram[Register.minutes]),
            second: encoding.decode(ram[Register.seconds]))
        let fraction = keepingFraction?.floorModulo(nanosecondsPerSecond) ?? 0
        let guestTime = time.unixSeconds * nanosecondsPerSecond + fraction
        state.clockOffset = guestTime - hostTime
        state.lastStatusCRead = guestTime
    }

    /// Writes the time and date at `guestTime` into the time registers.
    private static func storeTime(at guestTime: Int64, in ram: inout [UInt8], encoding: Encoding) {
        let time = CalendarTime(unixSeconds: guestTime.floorDivided(by: nanosecondsPerSecond))
        ram[Register.seconds] = encoding.encode(time.second)
        ram[Register.minutes] = encoding.encode(time.minute)
        ram[Register.hours] = encoding.encodeHour(time.hour)
        ram[Register.dayOfWeek] = encoding.encode(time.dayOfWeek)
        ram[Register.dayOfMonth] = encoding.encode(time.day)
        ram[Register.month] = encoding.encode(time.month)
        ram[Register.year] = encoding.encode(time.year % 100)
        ram[Register.century] = encoding.encode(time.year / 100)
    }

    /// Register C: UF if an update happened in (`since`, `until`], PF if an edge of the
    /// periodic rate did; IRQF if a raised flag's interrupt is enabled (datasheet
    /// "Register C"). Updates stop while SET is on; the periodic rate only with the divider.
    private static func statusC(_ state: State, since: Int64, until: Int64) -> UInt8 {
        guard state.dividerRunning, until > since else { return 0 }
        var flags: UInt8 = 0
        if state.running, until.floorDivided(by: nanosecondsPerSecond) != since.floorDivided(by: nanosecondsPerSecond) {
            flags |= StatusC.updateEnded
        }
        if let period = periodTicks(state), timeBaseTicks(until) / period != timeBaseTicks(since) / period {
            flags |= StatusC.periodic
        }
        if state.running, nextAlarm(state, after: since, notAfter: until) != nil { flags |= StatusC.alarm }
        let b = state.statusB
        if (flags & StatusC.updateEnded != 0 && b.contains(.updateEndedInterruptEnable))
            || (flags & StatusC.periodic != 0 && b.contains(.periodicInterruptEnable))
            || (flags & StatusC.alarm != 0 && b.contains(.alarmInterruptEnable)) {
            flags |= StatusC.interruptRequest
        }
        return flags
    }

    /// "Alarm" bytes with bits 7:6 set match every value (datasheet, "Alarm Registers").
    static let alarmDontCare: UInt8 = 0xC0

    /// The guest time of the first update after `guestTime` (and not after `limit`) that
    /// lands on a time the alarm registers match, in register B's format; nil when none
    /// does within a day (a time-of-day alarm repeats daily, so none ever will). A byte
    /// that is not a value the time registers can hold never matches.
    private static func nextAlarm(_ state: State, after guestTime: Int64, notAfter limit: Int64 = .max) -> Int64? {
        let encoding = state.encoding
        /// .some(nil): any value; nil: never.
        func wanted(_ byte: UInt8, below bound: Int, hour: Bool = false) -> Int64?? {
            if byte & alarmDontCare == alarmDontCare { return .some(nil) }
            let value = hour ? encoding.decodeHour(byte) : encoding.decode(byte)
            let valid = (0..<bound).contains(value) && (hour ? encoding.encodeHour(value) : encoding.encode(value)) == byte
            return valid ? .some(Int64(value)) : nil
        }
        guard let second = wanted(state.ram[Register.secondsAlarm], below: 60),
              let minute = wanted(state.ram[Register.minutesAlarm], below: 60),
              let hour = wanted(state.ram[Register.hoursAlarm], below: 24, hour: true) else { return nil }
        // Like a cron search: skip to the next hour, minute or second that can match.
        var update = guestTime.floorDivided(by: nanosecondsPerSecond) + 1
        let last = min(update - 1 + secondsPerDay, limit.floorDivided(by: nanosecondsPerSecond))
        while update <= last {
            let timeOfDay = update.floorModulo(secondsPerDay)
            let (h, m, s) = (timeOfDay / 3600, timeOfDay / 60 % 60, timeOfDay % 60)
            if let hour, h != hour {
                update += 3600 - timeOfDay % 3600
            } else if let minute, m != minute {
                update += 60 - s
            } else if let second, s != second {
                update += s < second ? second - s : 60 - s
            } else {
                return update * nanosecondsPerSecond
            }
        }
        return nil
    }

    static let secondsPerDay: Int64 = 86_400

    /// The periodic rate in time-base ticks (nil: rate 0, or the divider is not running).
    /// RS 1 and 2 give 256 and 128 Hz; RS n ≥ 3 gives 32768 >> (n - 1) Hz (Table 5).
    private static func periodTicks(_ state: State) -> Int64? {
        let rate = Int(state.ram[Register.statusA] & StatusA.rateMask)
        guard state.dividerRunning, rate != 0 else { return nil }
        return Int64(1) << (rate <= 2 ? rate + 6 : rate - 1)
    }

    /// The guest time of time-base edge `tick`, rounded up: `timeBaseTicks` of it is `tick`.
    private static func nanoseconds(atTimeBaseTick tick: Int64) -> Int64 {
        let seconds = tick.floorDivided(by: timeBaseHertz)
        return seconds * nanosecondsPerSecond + ((tick - seconds * timeBaseHertz) * nanosecondsPerSecond + timeBaseHertz - 1) / timeBaseHertz
    }

    /// 32.768 kHz time-base edges since the epoch at guest time `nanoseconds`.
    private static func timeBaseTicks(_ nanoseconds: Int64) -> Int64 {
        let seconds = nanoseconds.floorDivided(by: nanosecondsPerSecond)
        let fraction = nanoseconds - seconds * nanosecondsPerSecond
        return seconds * timeBaseHertz + fraction * timeBaseHertz / nanosecondsPerSecond
    }
}
