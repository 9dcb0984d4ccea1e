import Logging
import Synchronization
import SwiftVMMSupport
import SwiftVMMDevices
import SwiftVMMMemory

/// ACPI S3, suspend to RAM, on the machine with SwiftVMM's own interrupt controllers (ACPI
/// 6.5 §16.1.3 "S3 Sleeping State", §16.3 "Waking and Sleeping"; the FACS, §5.2.10).
///
/// `enter` (the guest wrote SLP_EN with the `\_S3_` sleep type) cuts every vCPU's power:
/// each local APIC comes back as at power-up, the APs wait for a start-up IPI as after a
/// reset, and the boot processor stops. RAM and the devices keep their state. The one wake
/// event modelled is the RTC's: PM1 RTC_STS is set "when the RTC generates an alarm
/// (asserts the RTC IRQ signal)" (Table 4.11), so the RTC's IRQ output passes through
/// `watchingRTC` on its way to the interrupt controllers. When that output rises while the
/// machine sleeps and PM1 enable has RTC_EN, PM1 status gets WAK_STS and RTC_STS, and the
/// boot processor starts in real mode at the FACS's Firmware_Waking_Vector (CS = vector >>
/// 4, IP = vector & 0xF, the other segments 0) as firmware hands it over, with LINT0 as
/// ExtINT again. With no wake event the machine sleeps until the run ends, as a PC waits
/// for its power button.
final class SuspendToRAM: Sendable {
    /// FACS field offsets (§5.2.10, Table 5.14).
    enum FACS {
        static let firmwareWakingVector: UInt64 = 12, extendedFirmwareWakingVector: UInt64 = 24
    }

    private let runners = AnnotatedMutex(RunnerLinks.none)
    /// Held across each change between awake and asleep, so a wake never overtakes the
    /// suspend requests it answers.
    private let sleeping = AnnotatedMutex(false)
    /// The RTC's IRQ output as last seen: a wake needs a rising edge.
    private let rtcLevel = Atomic<Bool>(false)
    private let facs: UInt64
    private let memory: GuestMemory
    /// The PM1 block. It owns this (its `suspend` calls `enter`), so the link back is weak.
    private struct PowerManagementLink: Sendable { weak let block: ACPIPowerManagement? }
    private let powerManagement = AnnotatedMutex(PowerManagementLink(block: nil))
    private let control: RunControl
    private let logger: Logger

    init(facs: UInt64, memory: GuestMemory, control: RunControl, logger: Logger) {
        self.facs = facs
        self.memory = memory
        self.control = control
        self.logger = logger
    }

    /// The vCPUs (the first is the boot processor) and the PM1 block.
    func attach(_ runners: RunnerLinks, _ powerManagement: ACPIPowerManagement) {
        self.runners.withLock { $0 = runners }
        self.powerManagement.withLock { $0 = PowerManagementLink(block: powerManagement) }
    }

    /// The RTC's IRQ output, `line` (the way to the interrupt controllers), with this
    /// machine's PM1 block listening.
    func watchingRTC(_ line: any InterruptLine) -> any InterruptLine { RTCWakeTap(line: line, suspend: self) }

    /// The guest asked for S3 (on the vCPU thread that wrote PM1 control).
    func enter() {
        let entered = sleeping.withLock { sleeping in
            guard !sleeping else { return false }
            for runner in runners.withLock({ $0.all }) { runner.post(.suspend) }
            sleeping = true
            return true
        }
        if entered, powerManagement.withLock({ $0.block?.rtcWakeEnabled }) != true {
            logger.warning("the guest suspended to RAM (ACPI S3) with RTC_EN clear in PM1 enable, so nothing can wake it; it sleeps until the run ends")
        }
    }

    /// The RTC's IRQ output changed (on the thread that changed it).
    fileprivate func rtcInterrupt(_ level: Bool) {
        let was = rtcLevel.exchange(level, ordering: .acquiringAndReleasing)
        if level, !was { wake() }
    }

    private func wake() {
        guard let powerManagement = powerManagement.withLock({ $0.block }), powerManagement.rtcWakeEnabled else { return }
        let woke = sleeping.withLock { sleeping in
            defer { sleeping = false }
            return sleeping
        }
        guard woke else { return }
        powerManagement.wokeOnRTC()
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
            runners.withLock { $0[0] }?.post(.resume, wakingVector: vector)
        } catch {
            control.finish(.hostError("cannot read the FACS waking vector at \(hex(facs)): \(error)"))
        }
    }
}

/// The RTC's IRQ output on its way to the interrupt controllers, seen by the PM1 block.
private struct RTCWakeTap: InterruptLine {
    let line: any InterruptLine
    let suspend: SuspendToRAM
    func set(_ level: Bool) {
        line.set(level)
        suspend.rtcInterrupt(level)
    }
    var acceptance: EdgeAcceptance { line.acceptance }
}
