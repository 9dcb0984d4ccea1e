#if canImport(Glibc)
import Glibc
#endif

/// A mutex with a condition variable, for threads that must sleep until another thread
/// changes something (a halted vCPU waiting for an interrupt, the caller of `run()`
/// waiting for the machine to end). Swift's `Mutex` has no condition variable; this is
/// the POSIX pair, allocated once so it never moves.
final class ConditionLock: @unchecked Sendable {
    // SAFETY: allocated once in init and freed only in deinit, so the pthread objects never move
    // (POSIX forbids copying them) and stay valid while any thread holds a reference to self.
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let condition: UnsafeMutablePointer<pthread_cond_t>

    init() {
        // SAFETY: pthread_mutex_init/pthread_cond_init below initialise both allocations before any
        // use, and no other thread can see self until init returns.
        mutex = .allocate(capacity: 1)
        condition = .allocate(capacity: 1)
        // glibc's initialisers cannot fail (they only store the attributes); POSIX allows
        // EAGAIN/ENOMEM elsewhere, and a lock that is not one must not be used.
        var attributes = pthread_condattr_t()
        let status = [
            pthread_mutex_init(mutex, nil),
            pthread_condattr_init(&attributes),
            pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC),
            pthread_cond_init(condition, &attributes),
        ]
        pthread_condattr_destroy(&attributes)
        precondition(status.allSatisfy { $0 == 0 }, "pthread mutex/condition initialisation failed: \(status)")
    }

    deinit {
        // SAFETY: deinit runs once no thread holds self, so none waits on or holds the pair; both C
        // types are trivial, so deallocate needs no deinitialize.
        pthread_cond_destroy(condition)
        pthread_mutex_destroy(mutex)
        condition.deallocate()
        mutex.deallocate()
    }

    func withLock<T>(_ body: () throws -> T) rethrows -> T {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body()
    }

    /// Waits (lock held by the caller, inside `withLock`) until signalled or until the
    /// CLOCK_MONOTONIC `deadline` in nanoseconds passes. Returns false on time-out.
    @discardableResult
    func wait(untilNanoseconds deadline: UInt64? = nil) -> Bool {
        guard let deadline else {
            pthread_cond_wait(condition, mutex)
            return true
        }
        var time = timespec(tv_sec: Int(deadline / 1_000_000_000), tv_nsec: Int(deadline % 1_000_000_000))
        return pthread_cond_timedwait(condition, mutex, &time) != ETIMEDOUT
    }

    /// Wakes every waiter. Call with the lock held, after changing what they wait for.
    func broadcast() { pthread_cond_broadcast(condition) }
}
