import CHostThread
#if canImport(Glibc)
import Glibc
#endif

/// A POSIX thread owned by Swift: started with a closure, named, joined exactly once.
/// vCPUs run on these rather than on Swift concurrency's pool, because each blocks in
/// `KVM_RUN` for as long as the guest runs and must be pinned and signalled individually.
final class HostThread: @unchecked Sendable {
    private var thread: pthread_t = 0
    private var joined = false

    init(name: String, _ body: @escaping @Sendable () -> Void) throws(HostError) {
        // SAFETY: the +1 retain keeps the box alive until the new thread takes it back; if
        // pthread_create fails no thread ever saw it, and the guard below releases it instead.
        let box = Unmanaged.passRetained(Box(name: name, body: body))
        let result = pthread_create(&thread, nil, { argument in
            // SAFETY: `argument` is the box.toOpaque() passed below, retained once for this thread;
            // taking the retained value here balances passRetained exactly once.
            let box = Unmanaged<Box>.fromOpaque(argument!).takeRetainedValue()
            _ = chost_set_thread_name(String(box.name.prefix(15)))
            box.body()
            return nil
        }, box.toOpaque())
        guard result == 0 else {
            box.release()
            throw .thread(name, result)
        }
    }

    deinit { join() }

    /// Starts a thread nobody joins: it releases its own resources when `body` returns.
    static func detached(name: String, _ body: @escaping @Sendable () -> Void) throws(HostError) {
        let thread = try HostThread(name: name, body)
        thread.joined = true
        pthread_detach(thread.thread)
    }

    /// The thread's id, for `pthread_kill`.
    var id: pthread_t { thread }

    func join() {
        guard !joined else { return }
        joined = true
        pthread_join(thread, nil)
    }

    private final class Box {
        let name: String
        let body: @Sendable () -> Void
        init(name: String, body: @escaping @Sendable () -> Void) { self.name = name; self.body = body }
    }
}

/// A value computed on a host thread of its own while the caller goes on with other work;
/// `value()` waits for it. Dropped unread, it still waits for the thread (`HostThread`'s
/// deinit joins).
final class DeferredResult<Value: Sendable, Failure: Error>: @unchecked Sendable {
    /// Written once by the thread before it ends; read only after joining it, so the join
    /// orders the write before the read.
    private final class Slot: @unchecked Sendable { var result: Result<Value, Failure>? }
    private let slot = Slot()
    private var thread: HostThread?

    /// `cpu`: the host CPU the thread runs on (nil: wherever the scheduler puts it).
    init(name: String, cpu: Int? = nil, _ body: @escaping @Sendable () throws(Failure) -> Value) throws(HostError) {
        thread = try HostThread(name: name) { [slot] in
            if let cpu { CPUAffinity.pinCurrentThread(to: cpu) }
            do throws(Failure) { slot.result = .success(try body()) } catch { slot.result = .failure(error) }
        }
    }

    /// The value, or the error, once the thread has finished. Call it from one thread.
    func value() throws(Failure) -> Value {
        thread?.join()
        thread = nil
        // The thread stores a result before it returns, so after the join it is there.
        return try slot.result!.get()
    }
}
