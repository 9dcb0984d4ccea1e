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
///
/// The guest can ask for the stop itself (`SnapshotPort`): with `holdsOnGuestRequest`, its
/// write parks every vCPU — the writer right after its OUT — before anyone has asked for a
/// snapshot; they wait there for `stopAll`'s request, and `waitForGuestRequest` tells the
/// one who takes it.
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
    /// A write to the snapshot port holds the machine (`Configuration.snapshotOnPortWrite`).
    private let holdsOnGuestRequest: Bool
    /// The guest asked and no snapshot has been taken since; guarded by `lock`.
    private var guestRequestPending = false
    /// The run ended: nothing will ask any more; guarded by `lock`.
    private var closed = false
    /// Who waits for the guest to ask; guarded by `lock`.
    private var requestWaiters: [(id: Int, events: AsyncStream<GuestRequestWait>.Continuation)] = []
    private var nextWaiter = 0

    init(cpuCount: Int, control: RunControl, holdsOnGuestRequest: Bool) {
        self.control = control
        self.cpuCount = cpuCount
        self.holdsOnGuestRequest = holdsOnGuestRequest
    }

    var isHolding: Bool { hold.load(ordering: .acquiring) }

    // MARK: vCPU threads

    /// Takes the calling vCPU's state with `capture` and parks until `release()` or the
    /// machine stops.
    func park(_ id: Int, capture: (VCPUSnapshot.Request) throws(MachineError) -> VCPUSnapshot) {
        let request = lock.withLock { () -> VCPUSnapshot.Request? in
            // Held by the guest's request: the snapshot has not been asked for yet.
            while hold.load(ordering: .acquiring) && self.request == nil && !control.isStopping { lock.wait() }
            return self.request
        }
        guard let request else { return }
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
            lock.broadcast()   // vCPUs the guest's request parked
        }
        wake()
        let results = lock.withLock { () -> [Result<VCPUSnapshot, MachineError>?] in
            while taken.contains(where: { $0 == nil }) && !control.isStopping { lock.wait() }
            return taken
        }
        return try VCPUSnapshot.collect(results)
    }

    /// Lets the parked vCPUs run on.
    func release() {
        lock.withLock {
            hold.store(false, ordering: .releasing)
            request = nil
            guestRequestPending = false
            lock.broadcast()
        }
    }

    /// Wakes waiting threads so they see that the machine is stopping.
    func wake() {
        lock.withLock { lock.broadcast() }
    }

    // MARK: The guest's request

    /// How a wait for the guest's request ended.
    enum GuestRequestWait: Sendable {
        case requested, ended, timedOut
    }

    /// The guest wrote the snapshot port (on the writer's thread): with
    /// `holdsOnGuestRequest`, every vCPU parks at the top of its loop (`wakeAll` kicks
    /// them) until a snapshot is taken or the run ends, and the waiters hear of it.
    func guestRequested(wakeAll: () -> Void) {
        guard holdsOnGuestRequest else { return }
        let waiters = lock.withLock {
            guestRequestPending = true
            hold.store(true, ordering: .releasing)
            defer { requestWaiters.removeAll() }
            return requestWaiters
        }
        for waiter in waiters { waiter.events.yield(.requested) }
        wakeAll()
    }

    /// Waits until the guest has asked for a snapshot not yet taken, the run ends or
    /// `limit` passes; cancelling the task ends the wait (nil).
    func waitForGuestRequest(within limit: Duration) async -> GuestRequestWait? {
        let (events, continuation) = AsyncStream.makeStream(of: GuestRequestWait.self)
        let id = lock.withLock { () -> Int in
            nextWaiter += 1
            if closed {
                continuation.yield(.ended)   // a request the run ended on is not one to take
            } else if guestRequestPending {
                continuation.yield(.requested)
            } else {
                requestWaiters.append((nextWaiter, continuation))
            }
            return nextWaiter
        }
        defer { lock.withLock { requestWaiters.removeAll { $0.id == id } } }
        let timer = Task {
            try await Task.sleep(for: limit)
            continuation.yield(.timedOut)
        }
        defer { timer.cancel() }
        for await event in events { return event }
        return nil
    }

    /// The run ended: whoever waits for the guest's request stops waiting.
    func close() {
        let waiters = lock.withLock {
            closed = true
            defer { requestWaiters.removeAll() }
            return requestWaiters
        }
        for waiter in waiters { waiter.events.yield(.ended) }
    }
}
