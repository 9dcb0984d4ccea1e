import Foundation
import Testing
@testable import SwiftVMM

/// The device timers' thread starts at the first armed deadline, on the CPUs of the thread
/// that started the service, not on whichever (possibly pinned) thread armed it.
struct TimerServiceTests {
    @Test func theThreadStartsAtTheFirstDeadlineOnTheStartersCPUs() async throws {
        let allowed = CPUAffinity.allowedCPUs()
        if allowed.count < 2 {
            try Test.cancel("needs two CPUs to tell a pinned thread's mask from the starter's (this process may use \(allowed))")
        }
        let timers = TimerService(slots: 1, clock: MachineClock())
        let fired = AnnotatedMutex<[Int]?>(nil)
        let done = DispatchSemaphore(value: 0)
        timers.start(handlers: [{
            fired.withLock { $0 = CPUAffinity.allowedCPUs() }
            done.signal()
        }], failed: { _ in done.signal() })

        // Armed from a thread pinned to one CPU, as a vCPU thread is.
        let arming = Thread {
            CPUAffinity.pinCurrentThread(to: allowed[0])
            timers.arm(0, atNanoseconds: 0)
        }
        arming.start()
        #expect(done.wait(timeout: .now() + 30) == .success, "the deadline never fired")
        #expect(fired.withLock { $0 } == allowed)
        timers.stop()
    }
}
