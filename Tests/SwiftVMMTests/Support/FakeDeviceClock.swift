@testable import SwiftVMM

/// A settable host clock for device models, and a record of every deadline they armed.
final class FakeDeviceClock: Sendable {
    private let state = AnnotatedMutex<(now: UInt64, arms: [UInt64?])>((1_000_000_000, []))

    var now: UInt64 {
        get { state.withLock { $0.now } }
        set { state.withLock { $0.now = newValue } }
    }

    var arms: [UInt64?] { state.withLock { $0.arms } }
    /// The last deadline armed: .none if never armed, .some(nil) if disarmed.
    var armed: UInt64?? { arms.last }

    var timer: DeviceTimer {
        DeviceTimer(now: { [self] in now }, arm: { [self] deadline in state.withLock { $0.arms.append(deadline) } })
    }
}
