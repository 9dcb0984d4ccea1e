import SwiftVMMDevices
import SwiftVMMKVM

/// One vCPU as a snapshot keeps it: what KVM holds of it, its userspace local APIC, where
/// it is in its life (running, halted, waiting for start-up) and the interrupts other
/// threads sent it that it had not taken yet.
struct VCPUSnapshot: Sendable, Codable {
    var state: VCPUState
    /// Nil with KVM's irqchip (its local APIC is `state.localAPIC`).
    var localAPIC: LocalAPIC.Snapshot?
    var run: VCPURunner.RunState
    var inbox: InterruptInbox.Pending

    /// What a vCPU reads of KVM for a snapshot, decided once per machine.
    struct Request: Sendable {
        /// `KVM_GET_MSR_INDEX_LIST`.
        var msrIndices: [UInt32]
        var xsave: Bool
        var extendedControlRegisters: Bool
        /// KVM's local APIC (the in-kernel irqchip).
        var kernelLocalAPIC: Bool
    }

    /// What each vCPU took of itself, in vCPU order (`SnapshotStop`, `DebugController`); a
    /// vCPU that took nothing because the machine stopped first, or failed, fails it all.
    static func collect(_ taken: [Result<VCPUSnapshot, MachineError>?]) throws(MachineError) -> [VCPUSnapshot] {
        var snapshots: [VCPUSnapshot] = []
        for result in taken {
            guard let result else { throw .invalidConfiguration("the machine stopped before the snapshot was taken") }
            snapshots.append(try result.get())
        }
        return snapshots
    }
}

extension VCPURunner {
    /// Finishes an access in flight and takes this vCPU's state; on its own thread, at the
    /// top of its loop (`SnapshotStop.park`).
    func captureForSnapshot(_ request: VCPUSnapshot.Request) throws(MachineError) -> VCPUSnapshot {
        guard let vcpu = vcpu as? VCPU else { throw .invalidConfiguration("vCPU \(self.vcpu.id) is not a KVM vCPU") }
        do throws(KVMError) {
            try vcpu.completePendingOperation()
            let state = try vcpu.captureState(msrIndices: request.msrIndices, xsave: request.xsave,
                                              extendedControlRegisters: request.extendedControlRegisters,
                                              localAPIC: request.kernelLocalAPIC)
            // The machine fills in the inbox once every thread that could post is still.
            return VCPUSnapshot(state: state, localAPIC: localAPIC?.snapshot(), run: runState,
                                inbox: .init(events: 0, nmis: 0, startupVector: 0, wakingVector: 0, edgeVectors: [], levelVectors: []))
        } catch {
            throw .host(.kvm(error))
        }
    }
}
