import SwiftVMMSupport

/// Spreads the vCPU threads of every machine in this process over the host CPUs it may
/// use (`CPUPinning.auto`): each vCPU goes to the CPU with the fewest vCPUs of live
/// machines on it, so concurrent machines do not all put their vCPU 0 on CPU 0. A single
/// machine still gets vCPU i on the i-th CPU. A lease gives its CPUs back when freed.
final class HostCPUPool: Sendable {
    static let shared = HostCPUPool()

    /// vCPU threads of live machines, indexed by host CPU (CPU numbers are below the
    /// kernel's CPU set size, 1024 here; an `[Int: Int]` would cost every boot the runtime's
    /// scan of every conformance record for `Int: Hashable`, about 0.26 M instructions).
    private let load = AnnotatedMutex<[Int]>([])

    /// `cpus` empty (no CPU known to be allowed): CPU 0, as the kernel would start with.
    func lease(count: Int, from cpus: [Int] = CPUAffinity.allowedCPUs()) -> Lease {
        let cpus = cpus.isEmpty ? [0] : cpus
        let chosen = load.withLock { load in
            let highest = cpus.max() ?? 0
            if highest >= load.count { load += [Int](repeating: 0, count: highest + 1 - load.count) }
            return (0..<count).map { _ in
                // The first of the least-loaded CPUs, in the order the process may use them.
                let cpu = cpus.min { load[$0] < load[$1] } ?? 0
                load[cpu] += 1
                return cpu
            }
        }
        return Lease(pool: self, cpus: chosen)
    }

    fileprivate func release(_ cpus: [Int]) {
        load.withLock { load in
            for cpu in cpus { load[cpu] -= 1 }
        }
    }

    /// Host CPUs for one machine's vCPUs, held until the machine is freed.
    final class Lease: Sendable {
        private let pool: HostCPUPool
        let cpus: [Int]
        fileprivate init(pool: HostCPUPool, cpus: [Int]) {
            self.pool = pool
            self.cpus = cpus
        }
        deinit { pool.release(cpus) }
    }
}
