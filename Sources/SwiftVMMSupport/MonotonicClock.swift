#if canImport(Glibc)
import Glibc
#endif

/// CLOCK_MONOTONIC now, in nanoseconds: the machine's one time base. Inlinable, so the
/// exit path's timestamps in other layers cost no call into this module.
@inlinable package func monotonicNanoseconds() -> UInt64 {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
}
