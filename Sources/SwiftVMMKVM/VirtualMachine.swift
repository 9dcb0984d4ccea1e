import CKVM
import SystemPackage

/// A KVM virtual machine file descriptor: memory slots, vCPUs and VM-wide settings.
/// (`api.rst` §4, "vm ioctls".) `Machine` is the whole computer built around it.
public final class VirtualMachine: Sendable {
    let fd: FileDescriptor
    let runAreaSize: Int

    init(fd: FileDescriptor, runAreaSize: Int) {
        self.fd = fd
        self.runAreaSize = runAreaSize
    }

    deinit { try? fd.close() }

    /// Maps `size` bytes of host memory at `host` into guest physical memory at `guestAddress`.
    package func setMemoryRegion(slot: UInt32, guestAddress: UInt64, size: UInt64, host: UnsafeMutableRawPointer) throws(KVMError) {
        var region = kvm_userspace_memory_region(
            slot: slot, flags: 0, guest_phys_addr: guestAddress, memory_size: size,
            userspace_addr: UInt64(UInt(bitPattern: host)))
        try IOCTL.call(fd, "KVM_SET_USER_MEMORY_REGION", CKVM_SET_USER_MEMORY_REGION, &region)
    }

    /// Intel VMX needs three pages of guest-physical space for real-mode emulation
    /// (`api.rst` KVM_SET_TSS_ADDR); they must not be RAM.
    package func setTSSAddress(_ address: UInt64) throws(KVMError) {
        try IOCTL.call(fd, "KVM_SET_TSS_ADDR", CKVM_SET_TSS_ADDR, value: UInt(address))
    }

    /// `KVM_ENABLE_CAP` with the first argument.
    func enable(_ capability: Int32, _ name: String, argument: UInt64) throws(KVMError) {
        var cap = kvm_enable_cap()
        cap.cap = UInt32(capability)
        cap.args.0 = argument
        try IOCTL.call(fd, "KVM_ENABLE_CAP(\(name))", CKVM_ENABLE_CAP, &cap)
    }

    /// MSR accesses KVM rejects (INVAL), does not know (UNKNOWN) or is filtered from
    /// (FILTER) exit to userspace (`KVM_CAP_X86_USER_SPACE_MSR`).
    package func exitOnUserspaceMSRs() throws(KVMError) {
        try enable(KVM_CAP_X86_USER_SPACE_MSR, "KVM_CAP_X86_USER_SPACE_MSR",
                   argument: UInt64(KVM_MSR_EXIT_REASON_INVAL | KVM_MSR_EXIT_REASON_UNKNOWN | KVM_MSR_EXIT_REASON_FILTER))
    }

    /// `KVM_X86_SET_MSR_FILTER`, denying by default: `filter.ranges` lists MSR ranges and,
    /// per MSR, whether KVM may handle its reads and writes (bit set) or they exit to
    /// userspace (bit clear); an MSR in no range exits too.
    package func setMSRFilter(_ filter: MSRFilter) throws(KVMError) {
        // KVM copies each bitmap in whole longs (BITS_TO_LONGS(nmsrs) * sizeof(long),
        // kvm_add_msr_filter): pad to a multiple of 8 bytes so it reads only our memory.
        var bitmaps = filter.ranges.map { $0.bitmap + [UInt8](repeating: 0, count: (8 - $0.bitmap.count % 8) % 8) }
        var kvmFilter = kvm_msr_filter()
        kvmFilter.flags = UInt32(KVM_MSR_FILTER_DEFAULT_DENY)
        try bitmaps.withUnsafeMutableBufferPointer { (buffers) throws(KVMError) in
            try withUnsafeMutableBytes(of: &kvmFilter.ranges) { (raw) throws(KVMError) in
                let ranges = raw.bindMemory(to: kvm_msr_filter_range.self)
                precondition(filter.ranges.count <= ranges.count, "at most \(ranges.count) MSR filter ranges")
                for (i, range) in filter.ranges.enumerated() {
                    // SAFETY: the bitmaps array outlives the ioctl below, which copies them.
                    let bitmap = buffers[i].withUnsafeMutableBufferPointer { $0.baseAddress! }
                    ranges[i] = kvm_msr_filter_range(flags: UInt32(KVM_MSR_FILTER_READ | KVM_MSR_FILTER_WRITE), nmsrs: UInt32(range.count),
                                                     base: range.base, bitmap: bitmap)
                }
            }
            try IOCTL.call(fd, "KVM_X86_SET_MSR_FILTER", CKVM_X86_SET_MSR_FILTER, &kvmFilter)
        }
    }

    /// `KVM_CREATE_IRQCHIP`: KVM's in-kernel PIC, I/O APIC and local APICs.
    package func createIRQChip() throws(KVMError) {
        try IOCTL.call(fd, "KVM_CREATE_IRQCHIP", CKVM_CREATE_IRQCHIP)
    }

    /// `KVM_CREATE_PIT2`: KVM's in-kernel 8254.
    package func createPIT() throws(KVMError) {
        var config = kvm_pit_config()
        try IOCTL.call(fd, "KVM_CREATE_PIT2", CKVM_CREATE_PIT2, &config)
    }

    /// `KVM_REINJECT_CONTROL`: whether the in-kernel PIT delivers ticks it could not send
    /// on time later (true, KVM's default) or drops them.
    package func setPITReinjection(_ reinject: Bool) throws(KVMError) {
        var control = kvm_reinject_control()
        control.pit_reinject = reinject ? 1 : 0
        try IOCTL.call(fd, "KVM_REINJECT_CONTROL", CKVM_REINJECT_CONTROL, &control)
    }

    /// `KVM_IRQ_LINE`: raise or lower a GSI of the in-kernel irqchip.
    package func setIRQLine(_ gsi: UInt32, level: Bool) throws(KVMError) {
        var line = kvm_irq_level()
        line.irq = gsi
        line.level = level ? 1 : 0
        try IOCTL.call(fd, "KVM_IRQ_LINE", CKVM_IRQ_LINE, &line)
    }

    public func createVCPU(id: Int) throws(KVMError) -> VCPU {
        let vcpufd = try IOCTL.call(fd, "KVM_CREATE_VCPU", CKVM_CREATE_VCPU, value: UInt(id))
        return try VCPU(fd: FileDescriptor(rawValue: vcpufd), id: id, runAreaSize: runAreaSize)
    }
}

/// What `KVM_X86_SET_MSR_FILTER` takes, in Swift terms.
package struct MSRFilter {
    struct Range {
        var base: UInt32
        var count: Int
        /// One bit per MSR from `base`: 1 = KVM handles it, 0 = exit to userspace.
        var bitmap: [UInt8]
    }
    var ranges: [Range]

    /// Deny by default: KVM handles exactly `indices`, every other MSR exits to userspace.
    package static func allowingOnly(_ indices: [UInt32]) -> MSRFilter {
        MSRFilter(ranges: allow(indices))
    }

    /// Ranges that let KVM handle exactly `indices` (bit set) and send the MSRs between
    /// them to userspace. Each range starts at a multiple of 0x1000 MSRs and ends after its
    /// highest index, so ranges never overlap whatever the order of `indices` (not sorted:
    /// sorting makes the Swift runtime scan every conformance record at its first use).
    static func allow(_ indices: [UInt32]) -> [Range] {
        var ranges: [Range] = []
        for index in indices {
            let base = index & ~0xFFF
            let bit = Int(index - base)
            let position: Int
            if let found = ranges.firstIndex(where: { $0.base == base }) {
                position = found
            } else {
                position = ranges.count
                ranges.append(Range(base: base, count: 0, bitmap: []))
            }
            ranges[position].count = max(ranges[position].count, bit + 1)
            while ranges[position].bitmap.count * 8 < ranges[position].count { ranges[position].bitmap.append(0) }
            ranges[position].bitmap[bit / 8] |= 1 << (bit % 8)
        }
        return ranges
    }
}
