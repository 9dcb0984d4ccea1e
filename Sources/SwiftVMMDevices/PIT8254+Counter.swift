/// One 8254 counter (Intel 8254 datasheet, "Mode Definitions", "Operation Common to All
/// Modes", "Read Operations"), computed from input clock ticks rather than ticked.
extension PIT8254 {
    /// One counter: the registers the datasheet names (CR, OL, status latch, control
    /// word) and where its counting element started, from which CE is computed.
    struct Counter: Sendable, Equatable, Codable {
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
        var pending: Pending?
        /// Modes 0, 1, 4, 5: terminal count has been signalled.
        var terminalCountSignalled = false

        /// A count waiting for the end of the current period (`Counter.pending`).
        struct Pending: Sendable, Equatable, Codable {
            var reload: UInt64
            var at: UInt64
        }

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
                    pending = Pending(reload: n, at: end)
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
}
