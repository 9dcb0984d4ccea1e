import Synchronization
import SwiftVMMDevices
import SwiftVMMKVM

/// One vCPU's exit counters. Written only by its vCPU thread (one relaxed atomic add per
/// exit, no lock), readable from any thread at any time.
final class ExitCounters: Sendable {
    /// An `Atomic` cannot live in an `Array` (it is not copyable), so each counter is a
    /// small object; one per `VCPUExit.Kind`, indexed by its raw value.
    private final class Counter: Sendable {
        let value = Atomic<UInt64>(0)
    }
    private let counts = VCPUExit.Kind.allCases.map { _ in Counter() }

    func record(_ exit: VCPUExit) {
        counts[Int(exit.kind.rawValue)].value.wrappingAdd(1, ordering: .relaxed)
    }

    var snapshot: [VCPUExit.Kind: UInt64] {
        Dictionary(uniqueKeysWithValues: VCPUExit.Kind.allCases.map { ($0, counts[Int($0.rawValue)].value.load(ordering: .relaxed)) })
    }
}

/// What a run cost: wall time and VM exits per vCPU (`Machine.statistics`).
public struct RunStatistics: Sendable, CustomStringConvertible {
    /// From `run()` starting the vCPU threads to every thread joined (zero before a run).
    public var wallTime: Duration
    /// Exits by kind, one dictionary per vCPU.
    public var exits: [[VCPUExit.Kind: UInt64]]
    /// What became of the PIT's channel 0 expiries (nil with `--irqchip kernel`: KVM's PIT).
    public var pitTicks: TimerTicks? = nil
    /// What became of each HPET comparator's matches (nil with `--irqchip kernel`).
    public var hpetTicks: [TimerTicks]? = nil

    /// Exits by kind over all vCPUs.
    public var totalExits: [VCPUExit.Kind: UInt64] {
        exits.reduce(into: [:]) { total, cpu in total.merge(cpu, uniquingKeysWith: +) }
    }

    public var description: String {
        let counts = totalExits.filter { $0.value > 0 }.sorted { $0.key < $1.key }
            .map { "\($0.key.name) \($0.value)" }.joined(separator: ", ")
        let hpet = activeHPETTimers.map { "; HPET timer \($0.index): \($0.ticks)" }
        return "\(wallTime) wall; exits: \(counts.isEmpty ? "none" : counts)" + (pitTicks.map { "; PIT: \($0)" } ?? "")
            + hpet.joined()
    }

    /// The HPET comparators that matched at least once, by index.
    public var activeHPETTimers: [(index: Int, ticks: TimerTicks)] {
        (hpetTicks ?? []).enumerated().filter { $0.element.expiries > 0 }.map { ($0.offset, $0.element) }
    }
}
