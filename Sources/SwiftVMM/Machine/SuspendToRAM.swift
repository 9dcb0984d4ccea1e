import Logging
import Synchronization

/// ACPI S3, suspend to RAM, on the machine with SwiftVMM's own interrupt controllers (ACPI
/// 6.5 §16.1.3 "S3 Sleeping State", §16.3 "Waking and Sleeping"; the FACS, §5.2.10).
///
/// `enter` (the guest wrote SLP_EN with the `\_S3_` sleep type) cuts every vCPU's power:
/// each local APIC comes back as at power-up, the APs wait for a start-up IPI as after a
/// reset, and the boot processor stops. RAM and the devices keep their state. The one wake
/// event modelled is the RTC alarm, when PM1 enable has RTC_EN and the RTC's AIE is set: at
/// the alarm PM1 status gets WAK_STS and RTC_STS, and the boot processor starts in real
/// mode at the FACS's Firmware_Waking_Vector (CS = vector >> 4, IP = vector & 0xF, the
/// other segments 0) as firmware hands it over, with LINT0 as ExtINT again. With no wake
/// event enabled the machine sleeps until the run ends, as a PC waits for its power button.
final class SuspendToRAM: Sendable {
    /// FACS field offsets (§5.2.10, Table 5.14).
    enum FACS {
        static let firmwareWakingVector: UInt64 = 12, extendedFirmwareWakingVector: UInt64 = 24
    }

    private let runners = AnnotatedMutex<[VCPURunner]>([])
    private let sleeping = Atomic<Bool>(false)
    private let facs: UInt64
    private let memory: GuestMemory
    private let powerManagement: AnnotatedMutex<ACPIPowerManagement?> = AnnotatedMutex(nil)
    private let rtc: MC146818RTC
    private let control: RunControl
    private let logger: Logger
    /// Arms the wake timer for a `MachineClock` time.
    private let armWake: @Sendable (UInt64) -> Void
    private let now: @Sendable () -> UInt64

    init(facs: UInt64, memory: GuestMemory, rtc: MC146818RTC, control: RunControl, logger: Logger,
         now: @escaping @Sendable () -> UInt64, armWake: @escaping @Sendable (UInt64) -> Void) {
        self.facs = facs
        self.memory = memory
        self.rtc = rtc
        self.control = control
        self.logger = logger
        self.now = now
        self.armWake = armWake
    }

    /// The vCPUs (the first is the boot processor) and the PM1 block; `attach([], nil)`
    /// cuts the references back to the machine.
    func attach(_ runners: [VCPURunner], _ powerManagement: ACPIPowerManagement?) {
        self.runners.withLock { $0 = runners }
        self.powerManagement.withLock { $0 = powerManagement }
    }

    /// The guest asked for S3 (on the vCPU thread that wrote PM1 control).
    func enter() {
        guard !sleeping.exchange(true, ordering: .acquiringAndReleasing) else { return }
        for runner in runners.withLock({ $0 }) { runner.post(.suspend) }
        if powerManagement.withLock({ $0?.rtcWakeEnabled }) == true, let delay = rtc.nanosecondsUntilAlarm {
            armWake(now() + UInt64(max(delay, 0)))
        } else {
            logger.warning("the guest suspended to RAM (ACPI S3) with no wake event enabled (PM1 RTC_EN with the RTC alarm); it sleeps until the run ends")
        }
    }

    /// The RTC alarm came (on the timer thread).
    func wake() {
        guard sleeping.exchange(false, ordering: .acquiringAndReleasing) else { return }
        powerManagement.withLock { $0 }?.wokeOnRTCAlarm()
        do throws(GuestMemoryError) {
            let vector = try memory.read(UInt32.self, at: facs + FACS.firmwareWakingVector)
            // A 32- or 64-bit wake (§5.2.10: firmware prefers this vector when it is set) is
            // not modelled: saying so beats starting the guest where it did not ask.
            guard try memory.read(UInt64.self, at: facs + FACS.extendedFirmwareWakingVector) == 0 else {
                return control.finish(.hostError("the guest set the FACS X_Firmware_Waking_Vector for a 32- or 64-bit wake from S3; SwiftVMM wakes only in real mode (Firmware_Waking_Vector)"))
            }
            guard vector < 1 << 20 else {
                return control.finish(.hostError("the FACS Firmware_Waking_Vector \(hex(UInt64(vector))) is above 1 MiB, out of real mode's reach"))
            }
            runners.withLock { $0.first }?.post(.resume, wakingVector: vector)
        } catch {
            control.finish(.hostError("cannot read the FACS waking vector at \(hex(facs)): \(error)"))
        }
    }
}
