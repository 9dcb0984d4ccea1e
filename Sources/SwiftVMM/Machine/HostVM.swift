import Logging
import SwiftVMMPlatform
import SwiftVMMDevices
import SwiftVMMKVM
import SwiftVMMMemory

/// The first steps of building a machine, before any device exists: check the host's KVM
/// for what SwiftVMM needs and the configuration against its limits, create the VM and
/// map its RAM, choose the interrupt controllers, and set how MSRs reach userspace.
struct HostVM {
    let kvm: KVM
    let vm: VirtualMachine
    let memory: GuestMemory
    /// What the guest's CPUID may show (`KVM_GET_SUPPORTED_CPUID`).
    let supportedCPUID: [CPUIDEntry]
    let nested: NestedVirtualization
    /// SwiftVMM's own interrupt controllers and timers; otherwise KVM's in-kernel irqchip.
    let userspaceAPIC: Bool

    /// `image`: RAM starts as this snapshot image (copy-on-write) instead of zeros.
    init(_ configuration: Machine.Configuration, logger: Logger, image: RAMImage? = nil) throws {
        let cpus = configuration.cpus
        kvm = try KVM()
        try kvm.requireUserspaceMSRs()
        let maxCPUs = try min(254, max(kvm.maxVCPUs, 1))
        guard (1...maxCPUs).contains(cpus) else {
            throw MachineError.invalidConfiguration("--cpus \(cpus) is out of range: this host allows 1 to \(maxCPUs)")
        }
        let recommended = try kvm.recommendedVCPUs
        if recommended > 0, cpus > recommended {
            logger.warning("\(cpus) vCPUs is more than the \(recommended) KVM recommends for this host; they will share host CPUs")
        }
        guard configuration.memorySize >= 2 << 20 else {
            throw MachineError.invalidConfiguration("--memory \(configuration.memorySize >> 10)K is too small: at least 2 MiB")
        }

        supportedCPUID = try kvm.supportedCPUID()
        nested = try NestedVirtualization.choose(requested: configuration.nested, supported: supportedCPUID)
        userspaceAPIC = configuration.interruptController == .userspace

        vm = try kvm.createVM()
        // MSRs KVM does not answer reach userspace (unknown and invalid ones too, which
        // includes the x2APIC range without an in-kernel APIC), and the filter sends
        // those SwiftVMM answers itself. The filter first, on a VM with no memory yet:
        // KVM_X86_SET_MSR_FILTER waits for an SRCU grace period (kvm_vm_ioctl_set_msr_filter),
        // which took 13-15 ms on kvm_pvm right after KVM_SET_USER_MEMORY_REGION and well
        // under 0.1 ms here.
        try vm.exitOnUserspaceMSRs()
        let kernelAPIC = userspaceAPIC ? [] : [LocalAPIC.MSR.apicBase, LocalAPIC.MSR.tscDeadline]
        try vm.setMSRFilter(.allowingOnly(MSRPolicy.kvmAnswered(kernelAPIC: kernelAPIC, nestedVMX: nested == .vmx,
                                                                overrides: configuration.msrOverrides)))
        try vm.setTSSAddress(Layout.kvmTSSAddress)
        if let image {
            guard image.layout == RAMLayout(size: configuration.memorySize) else {
                throw MachineError.invalidConfiguration("the snapshot's RAM is \(image.layout.size >> 20) MiB, the configuration's \(configuration.memorySize >> 20) MiB")
            }
            memory = try GuestMemory(forking: image)
        } else {
            memory = try GuestMemory(layout: RAMLayout(size: configuration.memorySize))
        }
        for (slot, region) in memory.slots.enumerated() {
            try vm.setMemoryRegion(slot: UInt32(slot), guestAddress: region.guestAddress, size: region.size, host: region.host)
        }
        if !userspaceAPIC {
            try vm.createIRQChip()
            try vm.createPIT()
            try vm.setPITReinjection(configuration.lostTicks == .delay)
        }
    }

    /// Interrupt line n (ISA IRQ n below 16, else I/O APIC pin n) of whichever irqchip
    /// runs: SwiftVMM's `chipset`, or KVM's through `KVM_IRQ_LINE` (whose failure ends the
    /// run: `control`).
    func interruptLine(_ n: Int, chipset: Chipset?, control: RunControl) -> any InterruptLine {
        chipset?.line(n) ?? KVMInterruptLine(vm: vm, gsi: UInt32(n)) { control.finish(.hostError("interrupt line \(n): \($0)")) }
    }
}

extension NestedVirtualization {
    /// `requested` nil means "where the host offers it"; true on a host without it is an error.
    static func choose(requested: Bool?, supported: [CPUIDEntry]) throws(MachineError) -> NestedVirtualization {
        let offered = offered(by: supported)
        switch requested {
        case nil: return offered
        case false?: return .none
        case true?:
            guard offered != .none else {
                throw .invalidConfiguration("--nested: the host KVM offers no nested virtualization (no VMX or SVM in KVM_GET_SUPPORTED_CPUID; kvm_intel/kvm_amd nested=1 enables it)")
            }
            return offered
        }
    }
}
