import CHostThread
#if canImport(Glibc)
import Glibc
#endif

/// CPU affinity of the calling thread (sched_setaffinity(2) with a 1024-CPU mask).
public enum CPUAffinity {
    private static let words = 1024 / 64

    /// The host CPUs this process may run on.
    public static func allowedCPUs() -> [Int] {
        guard let mask = currentMask() else { return [0] }
        return (0..<1024).filter { allows(mask, $0) }
    }

    /// Whether `mask` lets a thread run on `cpu` (0..<1024).
    private static func allows(_ mask: [UInt64], _ cpu: Int) -> Bool { mask[cpu / 64] & (1 << UInt64(cpu % 64)) != 0 }

    /// Pins the calling thread to one host CPU.
    @discardableResult
    static func pinCurrentThread(to cpu: Int) -> Bool {
        guard cpu >= 0, cpu < 1024 else { return false }
        var mask = [UInt64](repeating: 0, count: words)
        mask[cpu / 64] = 1 << UInt64(cpu % 64)
        return setMask(mask)
    }

    /// The calling thread's mask, one bit per CPU.
    static func currentMask() -> [UInt64]? {
        var mask = [UInt64](repeating: 0, count: words)
        // SAFETY: `mask` is a local 128-byte array and its exact size is passed, so
        // sched_getaffinity(2) writes within it; the pointer does not escape the closure.
        let result = mask.withUnsafeMutableBytes { chost_get_affinity($0.baseAddress, UInt($0.count)) }
        return result == 0 ? mask : nil
    }

    /// Sets the calling thread's mask.
    @discardableResult
    static func setMask(_ mask: [UInt64]) -> Bool {
        // SAFETY: `mask` is a 128-byte array and its exact size is passed, so
        // sched_setaffinity(2) reads within it; the pointer does not escape the closure.
        mask.withUnsafeBytes { chost_set_affinity($0.baseAddress, UInt($0.count)) } == 0
    }

    /// The calling thread and one helper thread kept on two different CPUs while both work:
    /// the caller stays on the CPU it runs on, the helper gets another it may use, and
    /// `end()` gives the caller its mask back (threads it starts later inherit that mask,
    /// so it must end before they start). Left alone, the scheduler often starts the helper
    /// on the caller's CPU and the two take turns (a restore's decoding, BENCHMARKS.md §9).
    /// nil where the caller may use only one CPU.
    final class Split: @unchecked Sendable {
        /// The CPU for the helper thread.
        let helperCPU: Int
        private var saved: [UInt64]?

        init?() {
            let here = Int(chost_current_cpu())
            // The next allowed CPU after the caller's (wrapping), so that restores running
            // side by side do not all put their helpers on the lowest CPU.
            guard let mask = currentMask(), here >= 0, here < 1024,
                  let other = (1..<1024).lazy.map({ (here + $0) % 1024 }).first(where: { allows(mask, $0) }),
                  pinCurrentThread(to: here) else { return nil }
            (helperCPU, saved) = (other, mask)
        }

        /// Gives the caller its mask back, on the caller's thread; the second call does nothing.
        func end() {
            guard let mask = saved else { return }
            saved = nil
            setMask(mask)
        }
    }
}
