import Synchronization

/// The kinds of VM exit SwiftVMM counts.
public enum ExitKind: String, Sendable, CaseIterable, Comparable {
    case io, mmio, msr, halt, interruptWindow, interrupted, other

    init(_ exit: VCPUExit) {
        switch exit {
        case .io: self = .io
        case .mmio: self = .mmio
        case .msrRead, .msrWrite: self = .msr
        case .halt: self = .halt
        case .interruptWindow: self = .interruptWindow
        case .interrupted: self = .interrupted
        default: self = .other
        }
    }

    var index: Int {
        switch self {
        case .io: 0
        case .mmio: 1
        case .msr: 2
        case .halt: 3
        case .interruptWindow: 4
        case .interrupted: 5
        case .other: 6
        }
    }

    public static func < (a: ExitKind, b: ExitKind) -> Bool { a.index < b.index }
}

/// One vCPU's exit counters. Written only by its vCPU thread (one relaxed atomic add per
/// exit, no lock), readable from any thread at any time.
final class ExitCounters: Sendable {
    /// One counter per `ExitKind`, in `allCases` order.
    private let counts = InlineArray<7, Atomic<UInt64>> { _ in Atomic(0) }

    func record(_ exit: VCPUExit) {
        counts[ExitKind(exit).index].wrappingAdd(1, ordering: .relaxed)
    }

    var snapshot: [ExitKind: UInt64] {
        Dictionary(uniqueKeysWithValues: ExitKind.allCases.map { ($0, counts[$0.index].load(ordering: .relaxed)) })
    }
}

/// What a run cost: wall time and VM exits per vCPU (`Machine.statistics`).
public struct RunStatistics: Sendable, CustomStringConvertible {
    /// From `run()` starting the vCPU threads to every thread joined (zero before a run).
    public var wallTime: Duration
    /// Exits by kind, one dictionary per vCPU.
    public var exits: [[ExitKind: UInt64]]
    /// What became of the PIT's channel 0 expiries (nil with `--irqchip kernel`: KVM's PIT).
    public var pitTicks: TimerTicks? = nil
    /// What became of each HPET comparator's matches (nil with `--irqchip kernel`).
    public var hpetTicks: [TimerTicks]? = nil

    /// Exits by kind over all vCPUs.
    public var totalExits: [ExitKind: UInt64] {
        exits.reduce(into: [:]) { total, cpu in total.merge(cpu, uniquingKeysWith: +) }
    }

    public var description: String {
        let counts = totalExits.filter { $0.value > 0 }.sorted { $0.key < $1.key }
            .map { "\($0.key.rawValue) \($0.value)" }.joined(separator: ", ")
        let hpet = activeHPETTimers.map { "; HPET timer \($0.index): \($0.ticks)" }
        return "\(wallTime) wall; exits: \(counts.isEmpty ? "none" : counts)" + (pitTicks.map { "; PIT: \($0)" } ?? "")
            + hpet.joined()
    }

    /// The HPET comparators that matched at least once, by index.
    public var activeHPETTimers: [(index: Int, ticks: TimerTicks)] {
        (hpetTicks ?? []).enumerated().filter { $0.element.expiries > 0 }.map { ($0.offset, $0.element) }
    }
}
