import CKVM

/// What `KVM_SET_GUEST_DEBUG` asks of KVM for one vCPU (api.rst §4.60): trap int3
/// (`KVM_GUESTDBG_USE_SW_BP`), program DR0–DR3/DR7 on the debugger's behalf
/// (`KVM_GUESTDBG_USE_HW_BP`) and single-step (`KVM_GUESTDBG_SINGLESTEP`, with
/// `KVM_GUESTDBG_BLOCKIRQ` so a step does not wander into an interrupt handler).
public struct GuestDebugSettings: Equatable, Sendable {
    public var softwareBreakpoints = false
    public var singleStep = false
    /// DR0–DR3: the linear addresses of hardware breakpoints and watchpoints.
    public var addresses: [UInt64] = [0, 0, 0, 0]
    /// DR7 (SDM Vol. 3B §18.2.4): enable bits, R/W and LEN per slot. Non-zero turns on
    /// `KVM_GUESTDBG_USE_HW_BP`.
    public var dr7: UInt64 = 0

    public init() {}

    /// Off: the guest runs as if no debugger were attached.
    public static let off = GuestDebugSettings()

    var control: UInt32 {
        var control = UInt32(KVM_GUESTDBG_ENABLE)
        if softwareBreakpoints { control |= UInt32(KVM_GUESTDBG_USE_SW_BP) }
        if singleStep { control |= UInt32(KVM_GUESTDBG_SINGLESTEP) | UInt32(KVM_GUESTDBG_BLOCKIRQ) }
        if dr7 != 0 { control |= UInt32(KVM_GUESTDBG_USE_HW_BP) }
        return self == .off ? 0 : control
    }
}

extension VCPU {
    /// `KVM_SET_GUEST_DEBUG`. Called only while the vCPU thread is parked outside `KVM_RUN`.
    package func setGuestDebug(_ settings: GuestDebugSettings) throws(KVMError) {
        var debug = kvm_guest_debug()
        debug.control = settings.control
        // SAFETY: debugreg is `__u64 debugreg[8]` (64 bytes) in the local `debug`; slots 0–3
        // (prefix(4)) and 7 stay in bounds, and every offset is a multiple of 8.
        withUnsafeMutableBytes(of: &debug.arch.debugreg) { registers in
            for (slot, address) in settings.addresses.prefix(4).enumerated() {
                registers.storeBytes(of: address, toByteOffset: slot * 8, as: UInt64.self)
            }
            registers.storeBytes(of: settings.dr7, toByteOffset: 7 * 8, as: UInt64.self)
        }
        try IOCTL.call(fd, "KVM_SET_GUEST_DEBUG", CKVM_SET_GUEST_DEBUG, &debug)
    }

    /// The vCPU's TSC offset (guest TSC = scaled host TSC + offset): the `KVM_VCPU_TSC_CTRL`
    /// group's `KVM_VCPU_TSC_OFFSET` attribute (api.rst "vcpu attributes", Linux 5.16+).
    /// Unlike a write of the TSC MSR, which KVM takes as "synchronise with the other
    /// vCPUs" when it is within a second of what it expects, setting the offset is exact.
    package var tscOffset: UInt64 {
        get throws(KVMError) {
            var offset: UInt64 = 0
            // SAFETY: `offset` is a local UInt64 that outlives the closure; KVM writes its 8 bytes
            // during the synchronous ioctl and keeps no reference.
            try withUnsafeMutablePointer(to: &offset) { (pointer) throws(KVMError) in
                try tscOffsetAttribute(CKVM_GET_DEVICE_ATTR, "KVM_GET_DEVICE_ATTR(KVM_VCPU_TSC_OFFSET)", pointer)
            }
            return offset
        }
    }

    package func setTSCOffset(_ value: UInt64) throws(KVMError) {
        var offset = value
        // SAFETY: `offset` is a local UInt64 that outlives the closure; KVM reads its 8 bytes
        // during the synchronous ioctl and keeps no reference.
        try withUnsafeMutablePointer(to: &offset) { (pointer) throws(KVMError) in
            try tscOffsetAttribute(CKVM_SET_DEVICE_ATTR, "KVM_SET_DEVICE_ATTR(KVM_VCPU_TSC_OFFSET)", pointer)
        }
    }

    // SAFETY: callers pass a pointer valid for this call (withUnsafeMutablePointer); KVM uses
    // the address in `addr` only during the ioctl below.
    private func tscOffsetAttribute(_ request: UInt, _ name: String, _ value: UnsafeMutablePointer<UInt64>) throws(KVMError) {
        var attribute = kvm_device_attr(flags: 0, group: UInt32(KVM_VCPU_TSC_CTRL), attr: UInt64(KVM_VCPU_TSC_OFFSET),
                                        addr: UInt64(UInt(bitPattern: value)))
        try IOCTL.call(fd, name, request, &attribute)
    }

    /// Finishes an I/O, MMIO or MSR access whose result KVM applies on the next entry, so
    /// registers read afterwards are exact: `KVM_RUN` with `immediate_exit` set completes
    /// the pending operation and returns EINTR before running any guest instruction
    /// (api.rst, `immediate_exit`).
    package func completePendingOperation() throws(KVMError) {
        // SAFETY: `run` maps kvm_run for the VCPU's lifetime, and this runs on the vCPU's own
        // thread outside KVM_RUN (DebugController.park), the only thread touching it.
        run.pointee.immediate_exit = 1
        defer { run.pointee.immediate_exit = 0 }
        _ = try runOnce()
    }
}
