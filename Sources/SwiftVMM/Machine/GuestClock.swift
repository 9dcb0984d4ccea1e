/// Converts between the guest's TSC and the host's CLOCK_MONOTONIC. Every vCPU's TSC is
/// set to 0 at creation (KVM synchronises host-initiated TSC writes of 0, so they stay in
/// step) and then runs at `tscHz`; one calibration point ties it to host time. All guest
/// timers are scheduled on the host through this one conversion, so every guest clock
/// agrees with every other.
public struct GuestClock: Sendable {
    public let tscHz: UInt64
    /// A guest TSC value and the host time it was read at.
    let tscAtCalibration: UInt64
    let nanosecondsAtCalibration: UInt64

    /// Reads the guest TSC, then the host clock. Taking the host reading (the later one)
    /// as the moment of the TSC value means estimates never run ahead of the real TSC, so
    /// a timer scheduled through them is never early.
    init(calibratingWith vcpu: VCPU, tscKHz: UInt32) throws(KVMError) {
        let tsc = try vcpu.msr(VCPURunner.timeStampCounter)
        let after = monotonicNanoseconds()
        self.tscHz = UInt64(tscKHz) * 1000
        tscAtCalibration = tsc
        nanosecondsAtCalibration = after
    }

    /// Guest TSC at host time `nanoseconds` (an estimate, within the calibration error of
    /// about a microsecond).
    public func tsc(atHostNanoseconds nanoseconds: UInt64) -> UInt64 {
        if nanoseconds >= nanosecondsAtCalibration {
            return tscAtCalibration &+ UInt64(UInt128(nanoseconds - nanosecondsAtCalibration) * UInt128(tscHz) / 1_000_000_000)
        }
        return tscAtCalibration &- UInt64(UInt128(nanosecondsAtCalibration - nanoseconds) * UInt128(tscHz) / 1_000_000_000)
    }

    public var now: UInt64 { tsc(atHostNanoseconds: monotonicNanoseconds()) }

    /// Host time at which the guest TSC reaches `tsc` (rounded up, so never early).
    public func hostNanoseconds(atTSC tsc: UInt64) -> UInt64 {
        guard tsc > tscAtCalibration else { return nanosecondsAtCalibration }
        let elapsed = (UInt128(tsc - tscAtCalibration) * 1_000_000_000 + UInt128(tscHz) - 1) / UInt128(tscHz)
        return nanosecondsAtCalibration &+ UInt64(clamping: elapsed)
    }
}
