import CKVM
import Testing
@testable import SwiftVMMKVM

/// KVM's in-kernel irqchip (`--irqchip kernel`), captured and restored on another VM.
@Suite(.enabled(if: KVMHost.available, "\(KVMHost.unavailableReason ?? "")"))
struct KernelIRQChipStateTests {
    func vmWithIRQChip(_ kvm: KVM) throws -> VirtualMachine {
        let vm = try kvm.createVM()
        try vm.createIRQChip()
        try vm.createPIT()
        return vm
    }

    @Test("the 8259s, the I/O APIC and the 8254 come back on a new VM as they were")
    func irqchipRoundTrip() throws {
        let kvm = try KVM()
        let source = try vmWithIRQChip(kvm)
        var state = try source.captureKernelIRQChip(pit: true)
        // Away from reset: IRQ 3 masked on the master, I/O APIC ID 5 with register 0x10
        // selected, PIT channel 2 counting from 1234 in mode 0.
        state.chips[0].chip.pic.imr = 0xF7
        state.chips[2].chip.ioapic.id = 5
        state.chips[2].chip.ioapic.ioregsel = 0x10
        state.pit?.channels.2.count = 1234
        state.pit?.channels.2.mode = 0
        try source.restoreKernelIRQChip(state)
        let saved = try source.captureKernelIRQChip(pit: true)
        #expect(saved.chips[0].chip.pic.imr == 0xF7 && saved.chips[2].chip.ioapic.id == 5)

        let target = try vmWithIRQChip(kvm)
        try target.restoreKernelIRQChip(saved)
        let back = try target.captureKernelIRQChip(pit: true)
        #expect(back.chips.map(bytes) == saved.chips.map(bytes))
        let pit = try #require(back.pit?.channels.2), savedPIT = try #require(saved.pit?.channels.2)
        #expect(pit.count == 1234 && pit.count == savedPIT.count && pit.mode == savedPIT.mode && pit.gate == savedPIT.gate)
    }

    @Test("KVM's local APIC comes back on a new vCPU as it was")
    func localAPICRoundTrip() throws {
        let kvm = try KVM()
        let a = try vmWithIRQChip(kvm).createVCPU(id: 0)
        func capture(_ vcpu: VCPU) throws -> VCPUState {
            try vcpu.captureState(msrIndices: [], xsave: false, extendedControlRegisters: false, localAPIC: true)
        }
        var state = try capture(a)
        var lapic = try #require(state.localAPIC)
        withUnsafeMutableBytes(of: &lapic.regs) { $0[0x80] = 0x20 }   // TPR (SDM Vol. 3A §11.8.3.1)
        state.localAPIC = lapic
        try a.restore(state)
        let saved = try capture(a)
        #expect(withUnsafeBytes(of: saved.localAPIC!.regs) { $0[0x80] } == 0x20)

        let b = try vmWithIRQChip(kvm).createVCPU(id: 0)
        try b.restore(saved)
        let back = try capture(b)
        #expect(bytes(try #require(back.localAPIC)) == bytes(try #require(saved.localAPIC)))
    }
}
