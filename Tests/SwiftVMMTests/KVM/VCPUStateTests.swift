import CKVM
import Testing
@testable import SwiftVMMKVM
import SwiftVMMPlatform

/// The bytes of a KVM structure, to compare two captures of it.
func bytes<T>(_ value: T) -> [UInt8] { withUnsafeBytes(of: value) { Array($0) } }

/// A vCPU's KVM state, captured and restored on a vCPU of another VM.
@Suite(.enabled(if: KVMHost.available, "\(KVMHost.unavailableReason ?? "")"))
struct VCPUStateTests {
    static let lstar: UInt32 = 0xC000_0082, kernelGSBase: UInt32 = 0xC000_0102, sysenterESP: UInt32 = 0x175

    func capture(_ vcpu: VCPU, _ kvm: KVM) throws -> VCPUState {
        try vcpu.captureState(msrIndices: kvm.msrIndexList(), xsave: kvm.capability(KVM_CAP_XSAVE) != 0,
                              extendedControlRegisters: kvm.capability(KVM_CAP_XCRS) != 0, localAPIC: false)
    }

    @Test("registers, special registers, FPU and MSRs come back on a new vCPU as they were")
    func roundTrip() throws {
        let kvm = try KVM()
        let source = try kvm.createVM()
        let a = try source.createVCPU(id: 0)
        var registers = try a.registers()
        registers.rax = 0x1234_5678; registers.rsp = 0x8000; registers.rip = 0x10_0000; registers.rflags = 0x202
        try a.setRegisters(registers)
        var special = try a.specialRegisters()
        special.gdt.base = 0x5000; special.gdt.limit = 0x27
        special.idt.base = 0x6000; special.idt.limit = 0xFFF
        try a.setSpecialRegisters(special)
        try a.setMSR(Self.lstar, 0xFFFF_8000_0000_1000)
        try a.setMSR(Self.kernelGSBase, 0xFFFF_8000_0020_0000)
        try a.setMSR(Self.sysenterESP, 0x7000)

        let state = try capture(a, kvm)
        #expect(state.msrs.contains(MSRValue(index: Self.lstar, value: 0xFFFF_8000_0000_1000)))
        #expect(state.msrs.contains(MSRValue(index: Self.kernelGSBase, value: 0xFFFF_8000_0020_0000)))
        #expect(state.msrs.first?.index == MSRPolicy.Index.timeStampCounter)

        let target = try kvm.createVM()
        let b = try target.createVCPU(id: 0)
        try b.restore(state)
        let back = try capture(b, kvm)
        #expect(bytes(back.registers) == bytes(state.registers))
        #expect(bytes(back.specialRegisters) == bytes(state.specialRegisters))
        #expect(bytes(back.fpu) == bytes(state.fpu))
        #expect(bytes(back.debugRegisters) == bytes(state.debugRegisters))
        #expect(back.xsave == state.xsave)
        #expect(back.multiprocessingState == state.multiprocessingState)
        // Every MSR but the TSC, which runs on between the two reads.
        let tsc = MSRPolicy.Index.timeStampCounter
        #expect(back.msrs.filter { $0.index != tsc } == state.msrs.filter { $0.index != tsc })
    }

    /// Why this host cannot run `tscContinues`: it does not let the guest TSC be set.
    static let tscNotSettable: String? = {
        guard let vcpu = try? KVM().createVM().createVCPU(id: 0), let rate = try? vcpu.tscKHz(),
              (try? vcpu.setMSR(MSRPolicy.Index.timeStampCounter, 1 << 40)) != nil,
              let read = try? vcpu.msr(MSRPolicy.Index.timeStampCounter) else { return "cannot probe the guest TSC" }
        if read >= 1 << 40, read - (1 << 40) < UInt64(rate) * 10_000 { return nil }
        return "this host does not let the guest TSC be set (wrote 2^40, read \(read))"
    }()

    @Test("the TSC continues from the saved value", .enabled(if: tscNotSettable == nil, "\(tscNotSettable ?? "")"))
    func tscContinues() throws {
        let kvm = try KVM()
        let a = try kvm.createVM().createVCPU(id: 0)
        let tsc = MSRPolicy.Index.timeStampCounter
        let rate = UInt64(try a.tscKHz()) * 1000
        try a.setMSR(tsc, 1 << 41)
        let state = try capture(a, kvm)
        let saved = try #require(state.msrs.first { $0.index == tsc }?.value)
        #expect(saved >= 1 << 41)
        let b = try kvm.createVM().createVCPU(id: 0)
        try b.restore(state)
        let after = try b.msr(tsc)
        #expect(after >= saved && after - saved < rate * 10, "saved \(saved), read back \(after)")
    }

    @Test("restore writes the TSC first and TSC_DEADLINE last")
    func restoreOrder() {
        let msrs = [0x6E0, 0xC000_0082, 0x10, 0x175].map { MSRValue(index: UInt32($0), value: 1) }
        #expect(VCPU.restoreOrder(msrs).map(\.index) == [0x10, 0x175, 0xC000_0082, 0x6E0])
    }
}
