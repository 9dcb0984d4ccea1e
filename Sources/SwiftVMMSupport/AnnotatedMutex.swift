import CSanitizerSupport
import Synchronization

/// `Synchronization.Mutex` that ThreadSanitizer can see: use it for every lock in the
/// package, so a `swift test --sanitize=thread` run (scripts/sanitize.sh) reports only
/// real races.
///
/// Why: on Linux `Mutex` takes and drops an uncontended lock with an atomic
/// compare-and-swap inlined into the caller, which TSan instruments, but a contended
/// lock waits in `_lockSlow` and hands over in `_unlockSlow` — a priority-inheritance
/// futex in libswiftSynchronization.so, which is not built with TSan (and the hand-over
/// itself happens in the kernel). TSan then misses the happens-before edge between two
/// critical sections of the same lock and reports them as a data race. `withLock`
/// states that edge explicitly: `__tsan_acquire` on the mutex's address after taking the
/// lock, `__tsan_release` before dropping it. Outside a TSan build those functions are
/// weak symbols nothing defines, and each costs one not-taken branch (measured: within
/// noise of a plain `Mutex`, about 10 ns per uncontended `withLock` in release).
package struct AnnotatedMutex<Value: ~Copyable>: ~Copyable, Sendable {
    private let mutex: Mutex<Value>

    package init(_ initialValue: consuming sending Value) {
        mutex = Mutex(initialValue)
    }

    /// Runs `body` with the lock held, as `Mutex.withLock`.
    package borrowing func withLock<Result: ~Copyable, E: Error>(
        _ body: (inout sending Value) throws(E) -> sending Result
    ) throws(E) -> sending Result {
        // The mutex is ~Copyable and stored in place (a class property or a global), so
        // its address is stable for the lock's lifetime: TSan's name for this lock.
        // SAFETY: the pointer outlives the closure but is never dereferenced: TSan only uses it as
        // the lock's identity, and the borrow of self keeps `mutex` at this address for the call.
        let address = withUnsafePointer(to: mutex) { UnsafeRawPointer($0) }
        return try mutex.withLock { (value: inout sending Value) throws(E) -> sending Result in
            csan_tsan_acquire(address)
            defer { csan_tsan_release(address) }
            return try body(&value)
        }
    }
}
