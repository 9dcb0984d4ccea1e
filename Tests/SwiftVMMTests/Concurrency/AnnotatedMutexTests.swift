import Testing
@testable import SwiftVMM

/// The lock every shared device and machine structure sits behind. Under ThreadSanitizer
/// (scripts/sanitize.sh runs this suite) the contended test is also the check that TSan
/// sees the hand-over: with a plain `Mutex` it reports a race on `count` here.
struct AnnotatedMutexTests {
    private final class Shared: Sendable {
        let count = AnnotatedMutex(0)
    }

    @Test func threadsContendingForOneLockLoseNoIncrement() throws {
        let shared = Shared()
        let (threadCount, increments) = (4, 50_000)
        let threads = try (0..<threadCount).map { index in
            try HostThread(name: "contender\(index)") {
                for _ in 0..<increments { shared.count.withLock { $0 += 1 } }
            }
        }
        for thread in threads { thread.join() }
        #expect(shared.count.withLock { $0 } == threadCount * increments)
    }

    private struct Refused: Error {}

    @Test func anErrorLeavesTheLockFreeAndTheValueAsChanged() {
        let value = AnnotatedMutex([1, 2])
        #expect(throws: Refused.self) {
            try value.withLock { (array: inout [Int]) throws(Refused) in
                array.append(3)
                throw Refused()
            }
        }
        #expect(value.withLock { $0 } == [1, 2, 3])
    }
}
