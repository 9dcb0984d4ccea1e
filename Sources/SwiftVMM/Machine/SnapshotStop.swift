import Synchronization
import SwiftVMMKVM

/// Stops every vCPU at an instruction boundary for a snapshot, has each take its own state
/// on its own thread (`VCPURunner.captureForSnapshot`), and holds them until the machine
/// has taken the rest.
///
/// A vCPU parks at the top of its loop, where no exit is half handled. Before it takes its
/// registers, a `KVM_RUN` with `immediate_exit` set finishes a port, MMIO or MSR read whose
/// result KVM applies at the next entry (`api.rst`, "immediate_exit"; as `DebugController`
/// parks), so the registers are exact.
final class SnapshotStop: @unchecked Sendable {
    /// Every vCPU must park at its next loop top; read by vCPU threads on each pass.
    private let hold = Atomic<Bool>(false)
    private let lock = ConditionLock()
    private let control: RunControl
    // Guarded by `lock`:
    /// What each vCPU took of itself, since the stop was asked for. Empty until a first
    /// snapshot: a machine that never takes one never builds this array's type at run time
    /// (the Swift runtime would scan every conformance record for `MachineError: Error`).
    private var taken: [Result<VCPUSnapshot, MachineError>?] = []
    /// What the vCPUs read of KVM (set before `hold`).
    private var request: VCPUSnapshot.Request?
    private let cpuCount: Int

    init(cpuCount: Int, control: RunControl) {
        self.control = control
        self.cpuCount = cpuCount
    }

    var isHolding: Bool { hold.load(ordering: .acquiring) }

    // MARK: vCPU threads

    /// Takes the calling vCPU's state with `capture` and parks until `release()` or the
    /// machine stops.
    func park(_ id: Int, capture: (VCPUSnapshot.Request) throws(MachineError) -> VCPUSnapshot) {
        guard let request = lock.withLock({ self.request }) else { return }
        let result: Result<VCPUSnapshot, MachineError>
        do throws(MachineError) { result = .success(try capture(request)) } catch { result = .failure(error) }
        lock.withLock {
            taken[id] = result
            lock.broadcast()
            while hold.load(ordering: .acquiring) && !control.isStopping { lock.wait() }
        }
    }

    // MARK: The snapshot's thread

    /// Stops every vCPU (`wake` kicks them all) and returns what each took of itself, in
    /// vCPU order; they stay parked until `release()`, also when this throws.
    func stopAll(_ request: VCPUSnapshot.Request, wake: () -> Void) throws(MachineError) -> [VCPUSnapshot] {
        lock.withLock {
            taken = Array(repeating: nil, count: cpuCount)
            self.request = request
            hold.store(true, ordering: .releasing)
        }
        wake()
        let results = lock.withLock { () -> [Result<VCPUSnapshot, MachineError>?] in
            while taken.compactMap({ $0 }).count < taken.count && !control.isStopping { lock.wait() }
            return taken
        }
        var snapshots: [VCPUSnapshot] = []
        for result in results {
            guard let result else { throw .invalidConfiguration("the machine stopped before the snapshot was taken") }
            snapshots.append(try result.get())
        }
        return snapshots
    }

    /// Lets the parked vCPUs run on.
    func release() {
        lock.withLock {
            hold.store(false, ordering: .releasing)
            request = nil
            lock.broadcast()
        }
    }

    /// Wakes waiting threads so they see that the machine is stopping.
    func wake() {
        lock.withLock { lock.broadcast() }
    }
}
