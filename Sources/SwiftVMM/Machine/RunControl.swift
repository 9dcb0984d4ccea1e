import Synchronization
import SystemPackage
#if canImport(Glibc)
import Glibc
#endif
import CHostThread
import SwiftVMMSupport

/// The state every thread of a running machine shares: whether it is stopping, how it
/// ended, and how many vCPUs can no longer wake by themselves.
final class RunControl: Sendable {
    let cpuCount: Int
    /// Set once, by the first `finish`; every vCPU loop checks it before `KVM_RUN`.
    private let stoppingFlag = Atomic<Bool>(false)
    private let result = AnnotatedMutex<(outcome: Outcome, fault: FaultInfo?)?>(nil)
    /// Readable once the outcome is set (eventfd(2)): `waitForOutcome` polls it, with the
    /// signals that stop the run if any.
    private let finishedEvent: FileDescriptor
    /// vCPUs halted with interrupts disabled or waiting for start-up. When all are, no
    /// guest event can wake any of them: deadlock (userspace irqchip only).
    let blockedCount: Atomic<Int>
    /// Wakes every vCPU thread (set by `Machine` once the runners exist).
    let wakeAll = AnnotatedMutex<(@Sendable () -> Void)?>(nil)

    /// The vCPU exit that ended the run with a fault, before registers are gathered.
    struct FaultInfo: Sendable {
        var vcpu: Int
        var reason: String
        var instruction: [UInt8]
    }

    init(cpuCount: Int) throws(HostError) {
        self.cpuCount = cpuCount
        blockedCount = Atomic(0)
        let event = chost_eventfd()
        guard event >= 0 else { throw .io("eventfd", Errno(rawValue: errno)) }
        finishedEvent = FileDescriptor(rawValue: event)
    }

    deinit { try? finishedEvent.close() }

    var isStopping: Bool { stoppingFlag.load(ordering: .acquiring) }

    /// Ends the run with `outcome` unless it already ended; the first caller wins.
    func finish(_ outcome: Outcome, fault: FaultInfo? = nil) {
        let first = result.withLock { result in
            guard result == nil else { return false }
            result = (outcome, fault)
            return true
        }
        guard first else { return }
        stoppingFlag.store(true, ordering: .releasing)
        wakeAll.withLock { $0 }?()
        let one: UInt64 = 1
        // SAFETY: `one` is a local 8-byte counter that write(2) only reads, during the call.
        _ = withUnsafeBytes(of: one) { try? finishedEvent.write($0) }
    }

    var outcome: (outcome: Outcome, fault: FaultInfo?)? { result.withLock { $0 } }

    /// Waits until the run has an outcome or the CLOCK_MONOTONIC `deadline` (nanoseconds;
    /// nil: none) passes; false on time-out. While waiting, one of `signals` arriving ends the
    /// run with `.stopped(signal:)`: one poll(2) of the outcome's eventfd and the signals'
    /// signalfd, so no thread waits for the signals.
    func waitForOutcome(untilNanoseconds deadline: UInt64?, stoppingOn signals: SignalStop? = nil) -> Bool {
        while outcome == nil {
            var remaining: UInt64?
            if let deadline {
                let now = monotonicNanoseconds()
                guard now < deadline else { return outcome != nil }
                remaining = deadline - now
            }
            // A negative descriptor (no signals) is one poll(2) skips.
            var fds = [pollfd(fd: signals?.descriptor.rawValue ?? -1, events: Int16(POLLIN), revents: 0),
                       pollfd(fd: finishedEvent.rawValue, events: Int16(POLLIN), revents: 0)]
            // poll(2) counts milliseconds: round up, so the wait does not end before the deadline.
            _ = poll(&fds, 2, remaining.map { Int32(min(($0 + 999_999) / 1_000_000, UInt64(Int32.max))) } ?? -1)
            if let signal = signals?.take() { finish(.stopped(signal: signal)) }
        }
        return true
    }

    /// Records one more blocked vCPU; true when that makes every vCPU blocked.
    func block() -> Bool { blockedCount.add(1, ordering: .acquiringAndReleasing).newValue == cpuCount }

    func unblock() { blockedCount.subtract(1, ordering: .acquiringAndReleasing) }
}
