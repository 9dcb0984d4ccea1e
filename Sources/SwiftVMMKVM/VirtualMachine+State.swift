import CKVM

/// What KVM's in-kernel irqchip holds for a VM (`--irqchip kernel`), for snapshots: both
/// 8259s, the I/O APIC, and the 8254 where KVM emulates it (`api.rst` §4: KVM_GET_IRQCHIP,
/// KVM_GET_PIT2). The local APICs are per vCPU (`VCPUState.localAPIC`).
public struct KernelIRQChipState: Sendable {
    /// chip_id 0, 1 and 2: the master 8259, the slave 8259, the I/O APIC.
    public var chips: [kvm_irqchip]
    public var pit: kvm_pit_state2?
}

extension VirtualMachine {
    /// The in-kernel irqchip's state; `pit` when the VM has KVM's 8254 (KVM_CREATE_PIT2).
    public func captureKernelIRQChip(pit: Bool) throws(KVMError) -> KernelIRQChipState {
        var chips: [kvm_irqchip] = []
        for id in UInt32(KVM_IRQCHIP_PIC_MASTER)...UInt32(KVM_IRQCHIP_IOAPIC) {
            var chip = kvm_irqchip()
            chip.chip_id = id
            try IOCTL.call(fd, "KVM_GET_IRQCHIP", CKVM_GET_IRQCHIP, &chip)
            chips.append(chip)
        }
        var pitState: kvm_pit_state2?
        if pit {
            var value = kvm_pit_state2()
            try IOCTL.call(fd, "KVM_GET_PIT2", CKVM_GET_PIT2, &value)
            pitState = value
        }
        return KernelIRQChipState(chips: chips, pit: pitState)
    }

    /// Writes `state` back: the 8259s and the I/O APIC, then the 8254, whose next tick
    /// may already be due and must find the interrupt controllers in place.
    public func restoreKernelIRQChip(_ state: KernelIRQChipState) throws(KVMError) {
        for var chip in state.chips {
            try IOCTL.call(fd, "KVM_SET_IRQCHIP", CKVM_SET_IRQCHIP, &chip)
        }
        if var pit = state.pit {
            try IOCTL.call(fd, "KVM_SET_PIT2", CKVM_SET_PIT2, &pit)
        }
    }
}
