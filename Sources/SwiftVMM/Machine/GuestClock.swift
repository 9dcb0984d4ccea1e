import SwiftVMMKVM
import SwiftVMMPlatform

/// Reads a vCPU's TSC together with the host's CLOCK_MONOTONIC, and converts a guest-TSC
/// deadline into a host time for the timer service.
///
/// Every vCPU's TSC is set to 0 at creation (KVM synchronises host-initiated TSC writes of
/// 0, so they stay in step). Each conversion starts from a fresh reading rather than from
/// one calibration at boot: the TSC rate KVM reports is nominal, and even a 50 ppm
/// difference from the host clock would make timers a millisecond late after 20 s.
struct GuestClock {
    struct Reading {
        var tsc: UInt64
        var hostNanoseconds: UInt64
    }

    let vcpu: any VirtualCPU
    let tscHz: UInt64
    /// Host time as the machine sees it (paused while a debugger holds the machine).
    let clock: MachineClock

    /// The guest TSC now (`KVM_GET_MSRS` of IA32_TIME_STAMP_COUNTER), then the host time.
    /// Pairing the TSC with the later host reading means a deadline converted from it is
    /// never early.
    func now() throws(KVMError) -> Reading {
        let tsc = try vcpu.msr(MSRPolicy.Index.timeStampCounter)
        return Reading(tsc: tsc, hostNanoseconds: clock.now())
    }

    /// Machine time at which the guest TSC reaches `tsc`, rounded up.
    func hostNanoseconds(atTSC tsc: UInt64, from reading: Reading) -> UInt64 {
        guard tsc > reading.tsc else { return reading.hostNanoseconds }
        let elapsed = (UInt128(tsc - reading.tsc) * 1_000_000_000 + UInt128(tscHz) - 1) / UInt128(tscHz)
        return reading.hostNanoseconds &+ UInt64(clamping: elapsed)
    }
}
