import SwiftVMMSupport
import SwiftVMMDevices

/// Routes inter-processor interrupts between local APICs (Intel SDM Vol. 3A §11.6): the
/// ICR's shorthand, physical or logical destination and delivery mode decide which vCPUs
/// get which message. Each APIC publishes its addressing (ID, LDR, DFR, mode, TPR) here
/// when it changes, so routing never touches another vCPU's APIC.
final class APICBus: Sendable {
    private let addressing: AnnotatedMutex<[LocalAPIC.Addressing?]>
    private let runners = AnnotatedMutex(RunnerLinks.none)

    init(cpuCount: Int) {
        addressing = AnnotatedMutex(Array(repeating: nil, count: cpuCount))
    }

    func attach(_ runners: RunnerLinks) { self.runners.withLock { $0 = runners } }

    func update(_ apic: LocalAPIC.Addressing) {
        addressing.withLock { $0[Int(apic.id)] = apic }
    }

    /// The 8259's INTR rose: the boot CPU takes it through LINT0 (ExtINT).
    func raiseExternalInterrupt() {
        runners.withLock { $0[0] }?.post(.externalInterrupt)
    }

    /// A message from the I/O APIC (82093AA §3.2.4): the destination is an 8-bit APIC ID
    /// or logical destination.
    func deliver(_ message: IOAPIC.Message) {
        let apics = addressing.withLock { $0 }
        var targets = apics.indices.filter { index in
            guard let apic = apics[index] else { return false }
            return message.logical ? apic.matchesLogical(UInt32(message.destination))
                                   : apic.matchesPhysical(UInt32(message.destination), x2APICMessage: false)
        }
        if message.deliveryMode == .lowestPriority,
           let lowest = targets.min(by: { (apics[$0]?.taskPriority ?? 0) < (apics[$1]?.taskPriority ?? 0) }) {
            targets = [lowest]
        }
        let runners = self.runners.withLock { $0 }
        for target in targets {
            guard let runner = runners[target] else { continue }
            switch message.deliveryMode {
            case .fixed, .lowestPriority: runner.post(vector: message.vector, levelTriggered: message.levelTriggered)
            case .nmi: runner.post(.nmi)
            case .initialize: runner.post(.initialize)
            case .extINT: runner.post(.externalInterrupt)
            case .smi, nil: break
            }
        }
    }

    func deliver(_ ipi: LocalAPIC.InterprocessorInterrupt) {
        let apics = addressing.withLock { $0 }
        let source = Int(ipi.source)
        var targets: [Int]
        switch ipi.shorthand {
        case .selfOnly: targets = [source]
        case .allIncludingSelf: targets = Array(apics.indices)
        case .allExcludingSelf: targets = apics.indices.filter { $0 != source }
        case .none:
            targets = apics.indices.filter { index in
                guard let apic = apics[index] else { return false }
                return ipi.logical ? apic.matchesLogical(ipi.destination)
                                   : apic.matchesPhysical(ipi.destination, x2APICMessage: ipi.x2APIC)
            }
            // §11.6.2.4 lowest priority: the target with the lowest TPR.
            if ipi.mode == .lowestPriority, let lowest = targets.min(by: { (apics[$0]?.taskPriority ?? 0) < (apics[$1]?.taskPriority ?? 0) }) {
                targets = [lowest]
            }
        }
        let runners = self.runners.withLock { $0 }
        for target in targets {
            guard let runner = runners[target] else { continue }
            switch ipi.mode {
            case .fixed, .lowestPriority: runner.post(vector: ipi.vector)
            case .nmi: runner.post(.nmi)
            case .initialize:
                // A level-triggered INIT with level 0 is the obsolete "INIT level de-assert"
                // message, which only resynchronises arbitration IDs (§11.6.1).
                if ipi.assert || !ipi.levelTriggered { runner.post(.initialize) }
            case .startup: runner.post(.startup, startupVector: ipi.vector)
            case .smi: break
            }
        }
    }
}
