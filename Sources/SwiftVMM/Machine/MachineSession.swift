import Logging
import Synchronization
import SwiftVMMSupport
import SwiftVMMDevices

/// A configuration run from power-on to the end, across reboots. Without
/// `rebootOnReset` it is one `Machine` run. With it, a reset request (port 0xCF9, the FADT
/// reset register, 8042 command 0xFE) ends that machine and a fresh `Machine` boots the
/// same configuration's kernel, as firmware would after a reset: new vCPUs, devices and
/// RAM, so nothing of the old run leaks into the new one except the RTC's battery-backed
/// CMOS RAM and clock, which a PC keeps across resets. There is no limit on the number of
/// reboots; `timeout` bounds the whole session.
///
/// A triple fault is not a reset request here (QEMU resets on one unless `-no-reboot`): it
/// ends the session as a guest fault with its report, because on nested KVM hosts it
/// arrives as the same internal error as an instruction KVM cannot emulate.
public final class MachineSession: Sendable {
    public let configuration: Machine.Configuration
    private let logger: Logger
    /// The machine running now, and the signal `stop` was called with (if it was).
    private let current: AnnotatedMutex<(machine: Machine?, stopped: Int32?)>
    private let bootCount = Atomic<Int>(1)
    /// `--trace summary` of each machine that has run.
    private let traceSummaries = AnnotatedMutex<[String]>([])

    /// Builds the first machine; its errors are the same as `Machine.init`'s.
    public init(_ configuration: Machine.Configuration, logger: Logger = Logger(label: "swiftvmm")) throws(MachineError) {
        self.configuration = configuration
        self.logger = logger
        current = AnnotatedMutex((try Machine(configuration, logger: logger), nil))
    }

    /// A session of one machine already built (one restored from a snapshot: it cannot
    /// boot again on a reset, as it has no kernel to load).
    public init(_ machine: Machine, logger: Logger = Logger(label: "swiftvmm")) {
        configuration = machine.configuration
        self.logger = logger
        current = AnnotatedMutex((machine, nil))
    }

    /// The machine running now (nil between machines and after the run).
    public var machine: Machine? { current.withLock { $0.machine } }

    /// How many times the kernel has booted (1 + reboots).
    public var boots: Int { bootCount.load(ordering: .relaxed) }

    /// The port the current machine's gdb stub listens on (each reboot's stub takes the
    /// configured port again).
    public var gdbPort: UInt16? { current.withLock { $0.machine }?.gdbPort }

    /// `--trace summary` of every boot so far, in order.
    public var traceSummary: String? {
        let summaries = traceSummaries.withLock { $0 }
        return summaries.isEmpty ? nil : summaries.joined(separator: "\n")
    }

    /// Runs machines until one ends with anything but a reset to reboot from, or one of
    /// `signals` arrives (`.stopped(signal:)`). Once only.
    public func run(stoppingOn signals: SignalStop? = nil) -> Outcome {
        let deadline = configuration.timeout.map { monotonicNanoseconds() + $0.nanoseconds }
        while true {
            guard let (outcome, cmos) = runCurrentMachine(stoppingOn: signals) else { return .hostError("a MachineSession runs once") }
            guard outcome == .reset, configuration.rebootOnReset else { return outcome }
            if let stopped = current.withLock({ $0.stopped }) { return .stopped(signal: stopped) }
            if let signal = signals?.received { return .stopped(signal: signal) }
            var next = configuration
            if let deadline {
                let now = monotonicNanoseconds()
                guard now < deadline else { return .timedOut }
                next.timeout = .nanoseconds(Int64(deadline - now))
            }
            logger.info("guest requested a reset: booting again (boot \(boots + 1))")
            let machine: Machine
            do {
                machine = try Machine(next, logger: logger, cmos: cmos)
            } catch {
                return .hostError("reboot: \(error)")
            }
            bootCount.add(1, ordering: .relaxed)
            let stopped = current.withLock { state -> Int32? in
                state.machine = machine
                return state.stopped
            }
            if let stopped { machine.stop(signal: stopped) }
        }
    }

    /// Runs the current machine and lets it go (so its fds and RAM are freed before the
    /// next one is built); returns how it ended and its battery-backed CMOS.
    private func runCurrentMachine(stoppingOn signals: SignalStop?) -> (Outcome, MC146818RTC.Backup)? {
        guard let machine = current.withLock({ $0.machine }) else { return nil }
        let outcome = machine.run(stoppingOn: signals)
        current.withLock { $0.machine = nil }
        if let summary = machine.traceSummary { traceSummaries.withLock { $0.append(summary) } }
        return (outcome, machine.rtc.backup)
    }

    /// Ends the session (from any thread), whichever machine is running or about to.
    public func stop(signal: Int32 = 0) {
        let machine = current.withLock { state -> Machine? in
            if state.stopped == nil { state.stopped = signal }
            return state.machine
        }
        machine?.stop(signal: signal)
    }
}
