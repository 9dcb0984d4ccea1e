import Synchronization
import SwiftVMMSupport

/// The state every thread of a running machine shares: whether it is stopping, how it
/// ended, and how many vCPUs can no longer wake by themselves.
final class RunControl: Sendable {
    let cpuCount: Int
    /// Set once, by the first `finish`; every vCPU loop checks it before `KVM_RUN`.
    private let stoppingFlag = Atomic<Bool>(false)
    private let result = AnnotatedMutex<(outcome: Outcome, fault: FaultInfo?)?>(nil)
    /// Signalled when the outcome is set; `Machine.run` waits on it.
    let finished = ConditionLock()
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

    init(cpuCount: Int) {
        self.cpuCount = cpuCount
        blockedCount = Atomic(0)
    }

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
        finished.withLock { finished.broadcast() }
    }

    var outcome: (outcome: Outcome, fault: FaultInfo?)? { result.withLock { $0 } }

    /// Waits until the run has an outcome or the CLOCK_MONOTONIC `deadline` (nanoseconds;
    /// nil: none) passes; false on time-out.
    func waitForOutcome(untilNanoseconds deadline: UInt64?) -> Bool {
        finished.withLock {
            while outcome == nil {
                if !finished.wait(untilNanoseconds: deadline) { return outcome != nil }
            }
            return true
        }
    }

    /// Records one more blocked vCPU; true when that makes every vCPU blocked.
    func block() -> Bool { blockedCount.add(1, ordering: .acquiringAndReleasing).newValue == cpuCount }

    func unblock() { blockedCount.subtract(1, ordering: .acquiringAndReleasing) }
}
